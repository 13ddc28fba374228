"""The HTTP API: dependencies, response models and one router module per resource."""

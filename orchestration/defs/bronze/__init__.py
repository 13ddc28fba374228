"""Bronze: the Iceberg tables the streaming sink writes."""

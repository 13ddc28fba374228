"""One router per resource; :func:`serve.app.create_app` mounts them under ``/v1``."""

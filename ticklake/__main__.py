"""``python -m ticklake`` runs the CLI."""

from ticklake.cli import app

app()

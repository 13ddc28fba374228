"""ticklake core: settings, Iceberg catalog access, time helpers and the CLI."""

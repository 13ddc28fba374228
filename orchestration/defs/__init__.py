"""Dagster definitions, one folder per domain."""

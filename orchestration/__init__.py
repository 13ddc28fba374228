"""Dagster orchestration: streaming supervision, bronze reporting, silver assets, schedules."""

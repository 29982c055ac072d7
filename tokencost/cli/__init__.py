"""The ``tokencost`` command (typer): one module per command group over the API."""

from tokencost.cli.common import app, main, scenario_schema

__all__ = ["app", "main", "scenario_schema"]

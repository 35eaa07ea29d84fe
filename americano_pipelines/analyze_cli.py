"""`americano analyze …`: one analysis, CSV in, JSON out (CONTRACTS.md §3)."""

from __future__ import annotations

import typer

analyze_app = typer.Typer(no_args_is_help=True, help="One analysis: CSV in, JSON out.")

"""The HTTP API (`americano serve`): FastAPI routes that call `stats/` as the CLI does, each
request acting for its bearer token's user (CONTRACTS.md §5)."""

from americano_pipelines.api.app import create_app

__all__ = ["create_app"]

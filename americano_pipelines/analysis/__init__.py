"""Per-protocol analyses: a protocol's pre-registered plan applied to its observations.

`protocol_analysis` is pure (plain data in, frozen dataclasses out, no I/O); `warehouse` reads a
protocol's inputs from the DuckDB warehouse and writes the tidy result tables. Neither imports
Dagster: the assets in `defs/analyses` and any other caller use the same functions.
"""

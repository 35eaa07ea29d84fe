"""The warehouse as one user sees it: the one place where the HTTP API's reads of the marts are
limited to the caller.

PostgreSQL enforces row-level security; DuckDB has none, so a read that forgot its
`user_id = ?` would hand one user another's data. Every read the API makes of the warehouse goes
through a `UserWarehouse`, whose user is fixed when it is opened (from the request's token):
series are read for that user only, and a protocol is read only when `marts.protocols` says it is
that user's; any other protocol is `NotFoundError`, exactly as one that does not exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from americano_pipelines.errors import NotFoundError
from americano_pipelines.warehouse import tables

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["UserWarehouse", "WarehouseUnavailable", "open_user_warehouse"]


class WarehouseUnavailable(RuntimeError):
    """The warehouse is not built yet, or is being written (the API answers 503)."""


class UserWarehouse:
    """Read-only reads of the marts for `user_id` only."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, user_id: str) -> None:
        self._conn = conn
        self.user_id = user_id

    def daily_series(
        self, metric: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> pd.DataFrame:
        """The user's days of `metric` (`marts.daily_metrics`), in date order, from `start` to
        `end` inclusive when given."""
        frame = tables.daily_metric_series(self._conn, self.user_id, metric)
        if start is not None:
            frame = frame[frame["metric_date"] >= _timestamp(start)]
        if end is not None:
            frame = frame[frame["metric_date"] <= _timestamp(end)]
        return frame.reset_index(drop=True)

    def protocol(self, protocol_id: str) -> dict[str, Any]:
        """The user's protocol's `marts.protocols` row; another user's is not found."""
        row = self._conn.execute(
            "SELECT * FROM marts.protocols WHERE protocol_id = ? AND user_id = ?",
            [protocol_id, self.user_id],
        ).fetchone()
        if row is None:
            raise NotFoundError(
                f"protocolId: no protocol {protocol_id!r} of this user in the warehouse (a newly "
                "registered protocol reaches it with the next build of the marts)",
                field="protocolId",
            )
        names = [column[0] for column in self._conn.description]
        return dict(zip(names, row, strict=True))

    def phase_observations(self, protocol_id: str) -> pd.DataFrame:
        """The user's protocol's `marts.phase_observations` (as `tables.phase_observations`)."""
        self.protocol(protocol_id)
        return tables.phase_observations(self._conn, protocol_id)

    def protocol_result(self, protocol_id: str, table: tables.Table) -> dict[str, Any] | None:
        """The user's protocol's row of the result table `table` (`analyses.<name>`, one row
        per protocol: its `result_json` parsed, with `dataVersion` and `computedAt`); None
        before the analysis has run."""
        import json

        self.protocol(protocol_id)
        if not tables.table_exists(self._conn, tables.SCHEMA, table.name):
            return None
        row = self._conn.execute(
            f"SELECT result_json, data_version, computed_at FROM {table.qualified_name} "
            "WHERE protocol_id = ? AND user_id = ?",
            [protocol_id, self.user_id],
        ).fetchone()
        if row is None:
            return None
        computed_at = None if row[2] is None else row[2].isoformat()
        return {**json.loads(row[0]), "dataVersion": row[1], "computedAt": computed_at}

    def protocol_connection(self, protocol_id: str) -> duckdb.DuckDBPyConnection:
        """The connection, for a reader of one protocol's marts and results (the CENT report),
        once the protocol is known to be the user's."""
        self.protocol(protocol_id)
        return self._conn


def _timestamp(day: dt.date) -> Any:
    import pandas as pd

    return pd.Timestamp(day)


@contextmanager
def open_user_warehouse(database: str, user_id: str) -> Iterator[UserWarehouse]:
    """`database` (a path, or `md:` for MotherDuck) opened read-only for `user_id`."""
    if not database.startswith("md:") and not Path(database).exists():
        raise WarehouseUnavailable(f"no warehouse at {database} yet; build it with americano demo")
    try:
        conn = duckdb.connect(database, read_only=True)
    except duckdb.IOException as error:  # a build holds the writer's lock
        message = " ".join(str(error).split())
        raise WarehouseUnavailable(f"cannot open the warehouse: {message}") from None
    try:
        if not tables.table_exists(conn, "marts", "daily_metrics"):
            raise WarehouseUnavailable(
                "the warehouse has no marts yet; build it with americano demo"
            )
        yield UserWarehouse(conn, user_id)
    finally:
        conn.close()

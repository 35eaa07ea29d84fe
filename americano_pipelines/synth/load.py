"""Load the synthetic demo study into PostgreSQL."""

from __future__ import annotations

import psycopg

from americano_pipelines.db.load import load_tables
from americano_pipelines.synth.demo_study import generate_demo_study


def database_is_empty(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT NOT EXISTS (SELECT 1 FROM users)").fetchone()[0]


def seed_demo_study(conn: psycopg.Connection, *, users: int, days: int, seed: int) -> dict | None:
    """Generate and COPY the demo study when the database has no users; return its ground truth
    (None when the database was not empty)."""
    if not database_is_empty(conn):
        return None
    study = generate_demo_study(users=users, days=days, seed=seed)
    load_tables(conn, study.tables)
    return study.ground_truth

"""Pre-registered protocols in PostgreSQL: write a registration and its randomized schedule, and
read a protocol back, always acting as the application role for the protocol's user (row-level
security, migration 0003), so a user can register and see only their own protocols.

Once written, the pre-registration triggers (migration 0002) freeze the protocol's CENT/SPIRIT
fields and every phase except its actual end date; changes go to the `deviations` log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from americano_pipelines.db.connection import extract_session, user_session
from americano_pipelines.errors import InputError
from americano_pipelines.protocols import (
    PhaseSchedule,
    PlannedPhase,
    ProtocolRegistration,
    draw_schedule,
)

__all__ = ["StoredProtocol", "read_protocol", "register_protocol", "resolve_user_id"]


@dataclass(frozen=True)
class StoredProtocol:
    """A protocol row and its phase rows as the database holds them (phases in time order)."""

    protocol_id: str
    user_id: str
    protocol_name: str
    hypothesis: str
    design_type: str
    primary_outcome: str
    sample_size_target: int
    analysis_plan: str
    start_date: dt.date
    end_date: dt.date | None
    min_phase_length: int
    planned_length: int | None
    interim_looks: int
    alpha: float
    seed: int | None
    registered_at: dt.datetime
    deviations: tuple[Mapping[str, Any], ...]
    phases: tuple[PlannedPhase, ...]

    def to_json(self) -> dict[str, Any]:
        """CONTRACTS.md §4 (`protocolId`, `seed`, `phases`) plus the registered fields."""
        return {
            "protocolId": self.protocol_id,
            "seed": self.seed,
            "phases": [phase.to_json() for phase in self.phases],
            "userId": self.user_id,
            "protocolName": self.protocol_name,
            "hypothesis": self.hypothesis,
            "designType": self.design_type,
            "primaryOutcome": self.primary_outcome,
            "sampleSizeTarget": self.sample_size_target,
            "analysisPlan": self.analysis_plan,
            "startDate": self.start_date.isoformat(),
            "endDate": self.end_date.isoformat() if self.end_date else None,
            "minPhaseLength": self.min_phase_length,
            "plannedLength": self.planned_length,
            "interimLooks": self.interim_looks,
            "alpha": self.alpha,
            "registeredAt": self.registered_at.isoformat(),
            "deviations": [dict(d) for d in self.deviations],
        }


def resolve_user_id(
    conn: psycopg.Connection, *, user_id: str | None = None, user_email: str | None = None
) -> str:
    """The id of the user a protocol is for, given their id or their email.

    An id is checked as that user (row-level security shows a user only their own row). An
    email is looked up with the read-only extraction role, since no user may read another's row.
    """
    if (user_id is None) == (user_email is None):
        raise InputError("userId: give exactly one of userId and userEmail", field="userId")
    if user_id is not None:
        with user_session(conn, user_id):
            found = conn.execute("SELECT id FROM users WHERE id = %s", (user_id,)).fetchone()
        if found is None:
            raise InputError(f"userId: no user with id {user_id!r}", field="userId")
        return found[0]
    with extract_session(conn):
        rows = conn.execute("SELECT id FROM users WHERE email = %s", (user_email,)).fetchall()
    if not rows:
        raise InputError(f"userEmail: no user with email {user_email!r}", field="userEmail")
    return rows[0][0]


def register_protocol(
    conn: psycopg.Connection,
    registration: ProtocolRegistration,
    schedule: PhaseSchedule | None = None,
) -> StoredProtocol:
    """Write the protocol and one `phase_assignments` row per phase of its schedule in one
    transaction, as the application role for the protocol's user; commit; return what was
    stored. `schedule` defaults to `draw_schedule(registration)`; its seed is recorded on the
    protocol and on every phase."""
    if schedule is None:
        schedule = draw_schedule(registration)
    if schedule.design_type != registration.design_type:
        raise InputError(
            f"designType: the schedule is for {schedule.design_type}, the protocol is "
            f"{registration.design_type}",
            field="designType",
        )
    user_id = resolve_user_id(
        conn, user_id=registration.user_id, user_email=registration.user_email
    )
    with user_session(conn, user_id):
        # Inside user_session a transaction is already open unless the connection is in
        # autocommit mode; then this block is a savepoint and the commit below ends it.
        with conn.transaction():
            protocol_id = conn.execute(
                """INSERT INTO experiment_protocols (
                       user_id, protocol_name, hypothesis, start_date, end_date, design_type,
                       primary_outcome, sample_size_target, analysis_plan, min_phase_length,
                       planned_length, interim_looks, alpha, randomization_seed)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   RETURNING id""",
                (
                    user_id,
                    registration.protocol_name,
                    registration.hypothesis,
                    registration.start_date,
                    registration.end_date,
                    registration.design_type,
                    registration.primary_outcome,
                    registration.sample_size_target,
                    registration.analysis_plan,
                    registration.min_phase_length,
                    registration.planned_length,
                    registration.interim_looks,
                    registration.alpha,
                    schedule.seed,
                ),
            ).fetchone()[0]
            with conn.cursor() as cur:
                cur.executemany(
                    """INSERT INTO phase_assignments (
                           protocol_id, phase_label, phase_type, start_date, end_date,
                           planned_duration, randomization_seed, intervention_params)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
                    [
                        (
                            protocol_id,
                            phase.label,
                            phase.phase_type,
                            phase.start_date,
                            phase.end_date,
                            phase.planned_duration,
                            schedule.seed,
                            Jsonb(dict(phase.intervention_params)),
                        )
                        for phase in schedule.phases
                    ],
                )
            stored = _read(conn, protocol_id)
        if not conn.autocommit:
            conn.commit()
    if stored is None:  # the policies hid the row just written: a broken RLS setup
        raise RuntimeError(f"protocol {protocol_id} was written but is not visible to its user")
    return stored


def read_protocol(conn: psycopg.Connection, protocol_id: str, *, user_id: str) -> StoredProtocol:
    """The protocol and its phases as `user_id` sees them; another user's protocol is not found."""
    with user_session(conn, user_id):
        stored = _read(conn, protocol_id)
    if stored is None:
        raise InputError(
            f"protocolId: no protocol {protocol_id!r} for user {user_id!r}", field="protocolId"
        )
    return stored


def _read(conn: psycopg.Connection, protocol_id: str) -> StoredProtocol | None:
    row = conn.execute(
        """SELECT id, user_id, protocol_name, hypothesis, design_type::text, primary_outcome,
                  sample_size_target, analysis_plan, start_date, end_date, min_phase_length,
                  planned_length, interim_looks, alpha, randomization_seed, registered_at,
                  deviations
             FROM experiment_protocols WHERE id = %s""",
        (protocol_id,),
    ).fetchone()
    if row is None:
        return None
    phases = conn.execute(
        """SELECT phase_label, phase_type::text, start_date, end_date, planned_duration,
                  intervention_params
             FROM phase_assignments WHERE protocol_id = %s
            ORDER BY start_date, end_date NULLS LAST, phase_label COLLATE "C" """,
        (protocol_id,),
    ).fetchall()
    return StoredProtocol(
        protocol_id=row[0],
        user_id=row[1],
        protocol_name=row[2],
        hypothesis=row[3],
        design_type=row[4],
        primary_outcome=row[5],
        sample_size_target=row[6],
        analysis_plan=row[7],
        start_date=row[8],
        end_date=row[9],
        min_phase_length=row[10],
        planned_length=row[11],
        interim_looks=row[12],
        alpha=row[13],
        seed=row[14],
        registered_at=row[15],
        deviations=tuple(row[16]),
        phases=tuple(
            PlannedPhase(
                label=label,
                phase_type=phase_type,
                start_date=start,
                end_date=end,
                planned_duration=duration,
                intervention_params=params,
            )
            for label, phase_type, start, end, duration, params in phases
        ),
    )

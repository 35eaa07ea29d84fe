"""Pre-registered protocols in PostgreSQL: write a registration and its randomized schedule, read
a protocol back, and log a deviation, always on a user's session (row-level security, migrations
0003-0004), so a user can register and see only their own protocols.

Once written, the pre-registration triggers (migrations 0002, 0004) freeze the protocol's
CENT/SPIRIT fields and its whole schedule; changes, an actual phase end included, go to the
append-only `deviations` log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from americano_pipelines.db.connection import session_user_id
from americano_pipelines.errors import InputError, NotFoundError
from americano_pipelines.registration.analyses import AnalysisList, analyses_from_json
from americano_pipelines.registration.protocol_file import (
    PhaseSchedule,
    PlannedPhase,
    ProtocolRegistration,
    draw_schedule,
)

__all__ = [
    "StoredProtocol",
    "list_protocols",
    "preregister",
    "read_protocol",
    "record_deviation",
    "register_protocol",
]


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
    analyses: AnalysisList | None = None
    randomization: str | None = None
    max_consecutive: int | None = None
    min_b_phase_length: int | None = None
    sample_size_justification: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """CONTRACTS.md §4 (`protocolId`, `seed`, `phases`) plus the registered fields;
        `analyses` is null for a protocol registered without a list (the default analyses)."""
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
            "minBPhaseLength": self.min_b_phase_length,
            "plannedLength": self.planned_length,
            "interimLooks": self.interim_looks,
            "alpha": self.alpha,
            "randomization": self.randomization,
            "maxConsecutive": self.max_consecutive,
            "sampleSizeJustification": None
            if self.sample_size_justification is None
            else dict(self.sample_size_justification),
            "analyses": None if self.analyses is None else self.analyses.to_json(),
            "registeredAt": self.registered_at.isoformat(),
            "deviations": [dict(d) for d in self.deviations],
        }


def register_protocol(
    session: psycopg.Connection,
    registration: ProtocolRegistration,
    schedule: PhaseSchedule | None = None,
    sample_size_justification: Mapping[str, Any] | None = None,
) -> StoredProtocol:
    """Write the protocol and one `phase_assignments` row per phase of its schedule in one
    transaction on a user's session (`db.connection.token_session` / `user_session`) and
    commit; return what was stored. The protocol is the session's user's: a file naming
    another user (`userId`, `userEmail`) is refused. `schedule` defaults to
    `draw_schedule(registration)`; its seed is recorded on the protocol and on every phase.
    `sample_size_justification`: the simulated power of its test
    (`protocol_analyses.power.protocol_power`), stored as given and frozen (migration 0009)."""
    if schedule is None:
        schedule = draw_schedule(registration)
    if schedule.design_type != registration.design_type:
        raise InputError(
            f"designType: the schedule is for {schedule.design_type}, the protocol is "
            f"{registration.design_type}",
            field="designType",
        )
    user_id = _check_session_user(session, registration)
    # One transaction: the database admits phases only in the transaction that registers
    # their protocol (migration 0004).
    with session.transaction():
        protocol_id = session.execute(
            """INSERT INTO experiment_protocols (
                   user_id, protocol_name, hypothesis, start_date, end_date, design_type,
                   primary_outcome, sample_size_target, analysis_plan, min_phase_length,
                   planned_length, interim_looks, alpha, randomization_seed, analyses,
                   randomization, max_consecutive, min_b_phase_length,
                   sample_size_justification)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                       %s)
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
                None if registration.analyses is None else Jsonb(registration.analyses.to_json()),
                registration.randomization,
                registration.max_consecutive,
                registration.min_b_phase_length,
                None
                if sample_size_justification is None
                else Jsonb(dict(sample_size_justification)),
            ),
        ).fetchone()[0]
        with session.cursor() as cur:
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
        stored = _read(session, protocol_id)
    if not session.autocommit:
        session.commit()
    if stored is None:  # the policies hid the row just written: a broken RLS setup
        raise RuntimeError(f"protocol {protocol_id} was written but is not visible to its user")
    return stored


def preregister(session: psycopg.Connection, registration: ProtocolRegistration) -> StoredProtocol:
    """The one pre-registration sequence, shared by `americano protocol register` and
    `POST /api/research/protocols`: draw the randomized schedule the design calls for, simulate
    the power of the registered test when the protocol has a `power:` mapping (stored as its
    sample size justification), and register both on the user's session (`register_protocol`)."""
    schedule = draw_schedule(registration)
    justification = None
    if registration.power is not None:
        from americano_pipelines.protocol_analyses.power import protocol_power

        justification = protocol_power(registration)
    return register_protocol(
        session, registration, schedule, sample_size_justification=justification
    )


def _check_session_user(session: psycopg.Connection, registration: ProtocolRegistration) -> str:
    """The session's user, who must be the user the file names, if it names one."""
    user_id = session_user_id(session)
    # Row-level security shows a session its own user row only.
    row = session.execute("SELECT email FROM users WHERE id = %s", (user_id,)).fetchone()
    email = None if row is None else row[0]
    if registration.user_id is not None and registration.user_id != user_id:
        raise InputError(
            f"userId: this session acts for user {user_id!r}; a protocol is registered only "
            f"for the session's own user, not {registration.user_id!r}",
            field="userId",
        )
    if registration.user_email is not None and registration.user_email != email:
        raise InputError(
            f"userEmail: this session acts for user {user_id!r}; a protocol is registered "
            f"only for the session's own user, not {registration.user_email!r}",
            field="userEmail",
        )
    return user_id


def read_protocol(session: psycopg.Connection, protocol_id: str) -> StoredProtocol:
    """The protocol and its phases as the session's user sees them; another user's protocol
    is not found."""
    stored = _read(session, protocol_id)
    if not session.autocommit:
        session.commit()
    if stored is None:
        raise NotFoundError(
            f"protocolId: no protocol {protocol_id!r} for this session's user", field="protocolId"
        )
    return stored


def list_protocols(session: psycopg.Connection) -> list[StoredProtocol]:
    """Every protocol the session's user sees (row-level security: their own), oldest
    registration first."""
    ids = [
        row[0]
        for row in session.execute(
            "SELECT id FROM experiment_protocols ORDER BY registered_at, id"
        ).fetchall()
    ]
    protocols = [stored for stored in (_read(session, i) for i in ids) if stored is not None]
    if not session.autocommit:
        session.commit()
    return protocols


def record_deviation(
    session: psycopg.Connection,
    protocol_id: str,
    *,
    timestamp: dt.datetime,
    reason: str,
    description: str,
    phase: str | None = None,
    actual_end_date: dt.date | None = None,
) -> StoredProtocol:
    """Append a deviation to the protocol's log (the only change a registered protocol
    admits): when it happened, why, and what; `phase` and `actual_end_date` record when a
    phase really ended. The database adds `recordedAt`."""
    if timestamp.tzinfo is None:
        raise InputError("timestamp: give a time zone", field="timestamp")
    for name, text in (("reason", reason), ("description", description)):
        if not text or not text.strip():
            raise InputError(f"{name}: must be non-empty text", field=name)
    if actual_end_date is not None and phase is None:
        raise InputError("phase: an actual end date needs the phase it ends", field="phase")
    if phase is not None:
        labels = [p.label for p in read_protocol(session, protocol_id).phases]
        if phase not in labels:
            raise InputError(
                f"phase: protocol {protocol_id!r} has no phase {phase!r}; its phases: "
                f"{', '.join(labels[:8])}{', …' if len(labels) > 8 else ''}",
                field="phase",
            )
    entry: dict[str, Any] = {
        "timestamp": timestamp.isoformat(),
        "reason": reason.strip(),
        "description": description.strip(),
    }
    if phase is not None:
        entry["phase"] = phase
    if actual_end_date is not None:
        entry["actualEndDate"] = actual_end_date.isoformat()
    updated = session.execute(
        "UPDATE experiment_protocols SET deviations = deviations || jsonb_build_array(%s::jsonb) "
        "WHERE id = %s",
        (Jsonb(entry), protocol_id),
    ).rowcount
    if updated == 0:
        session.rollback()
        raise InputError(
            f"protocolId: no protocol {protocol_id!r} for this session's user", field="protocolId"
        )
    return read_protocol(session, protocol_id)


def _read(conn: psycopg.Connection, protocol_id: str) -> StoredProtocol | None:
    row = conn.execute(
        """SELECT id, user_id, protocol_name, hypothesis, design_type::text, primary_outcome,
                  sample_size_target, analysis_plan, start_date, end_date, min_phase_length,
                  planned_length, interim_looks, alpha, randomization_seed, registered_at,
                  deviations, analyses, randomization, max_consecutive, min_b_phase_length,
                  sample_size_justification
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
        analyses=analyses_from_json(row[17]),
        randomization=row[18],
        max_consecutive=row[19],
        min_b_phase_length=row[20],
        sample_size_justification=row[21],
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

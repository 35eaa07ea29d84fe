"""Which phase ends of registered protocols are due: the rule behind the `protocol_phase_end`
sensor, without Dagster, so it can be evaluated under any clock.

A phase has ended once its end date is before "today" in the protocol's timezone. Each ended
phase is due exactly once: `fired` holds, per protocol, the phases already answered (the
sensor's cursor). A protocol whose several phases ended since it was last looked at (one
registered late, or a daemon that was down) gets one run for all of them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["DuePhaseEnds", "PhaseEnd", "due_phase_ends", "read_fired", "write_fired"]


@dataclass(frozen=True)
class PhaseEnd:
    protocol_id: str
    phase_label: str
    end_date: dt.date


@dataclass(frozen=True)
class DuePhaseEnds:
    """The phases of one protocol that ended and were not yet answered, in end order."""

    protocol_id: str
    phases: tuple[PhaseEnd, ...]

    @property
    def run_key(self) -> str:
        """One key per protocol and (last) phase end: the daemon launches a key only once."""
        return f"{self.protocol_id}:{self.phases[-1].phase_label}"


def due_phase_ends(
    phases: Iterable[PhaseEnd], today: dt.date, fired: Mapping[str, Iterable[str]]
) -> list[DuePhaseEnds]:
    """Per protocol (sorted), the phases with `end_date < today` not in `fired`."""
    answered = {protocol: set(labels) for protocol, labels in fired.items()}
    by_protocol: dict[str, list[PhaseEnd]] = {}
    for phase in phases:
        if phase.end_date < today and phase.phase_label not in answered.get(phase.protocol_id, ()):
            by_protocol.setdefault(phase.protocol_id, []).append(phase)
    return [
        DuePhaseEnds(protocol, tuple(sorted(due, key=lambda p: (p.end_date, p.phase_label))))
        for protocol, due in sorted(by_protocol.items())
    ]


def read_fired(cursor: str | None) -> dict[str, list[str]]:
    """The cursor as {protocol_id: [phase labels answered]}; empty when there is none."""
    return {str(k): [str(v) for v in vs] for k, vs in json.loads(cursor).items()} if cursor else {}


def write_fired(fired: Mapping[str, Iterable[str]], due: Iterable[DuePhaseEnds]) -> str:
    """The cursor after answering `due`."""
    merged = {protocol: set(labels) for protocol, labels in fired.items()}
    for ends in due:
        merged.setdefault(ends.protocol_id, set()).update(p.phase_label for p in ends.phases)
    return json.dumps({k: sorted(v) for k, v in sorted(merged.items())}, separators=(",", ":"))

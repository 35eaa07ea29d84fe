"""`americano protocol …`: pre-registered experiment protocols (CONTRACTS.md §4).

`americano protocol register FILE.yaml` validates the protocol file (docs/protocol-yaml.md),
draws the randomized phase schedule its design calls for, writes the protocol and its
`phase_assignments` in one transaction on the session of the user whose token is in
`AMERICANO_USER_TOKEN` (the protocol is that user's; a file naming another user is refused),
and prints one JSON object:
`{"protocolId", "seed", "phases": [{"label", "phaseType", "startDate", "endDate", ...}], ...}`.
Bad input (a YAML syntax error, a missing, unknown or invalid field, an unknown user) exits 2
with one line on stderr naming the field; never a traceback. A file with a `power:` mapping
also gets its simulated power stored as the sample size justification (`americano protocol
power FILE.yaml` prints it without registering; docs/contracts-additions.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from americano_pipelines.cli.output import answered, group, print_json
from americano_pipelines.errors import InputError

__all__ = ["power", "protocol_app", "register"]

protocol_app = group("Pre-registered experiment protocols.")


@protocol_app.command("register")
@answered
def register(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.yaml",
            help="The protocol: CENT/SPIRIT fields and design (see docs/protocol-yaml.md).",
        ),
    ],
) -> None:
    """Pre-register a protocol and its randomized phase schedule; print the schedule as JSON.

    Same seed, same schedule; without `seed:` a fresh one is drawn, recorded and printed.
    """
    from americano_pipelines.config import get_settings
    from americano_pipelines.db.connection import connect, token_session
    from americano_pipelines.db.migrate import migrate
    from americano_pipelines.db.protocols import preregister
    from americano_pipelines.registration.protocol_file import load_protocol_file

    registration = load_protocol_file(file)
    token = _user_token(get_settings().user_token)
    with connect() as conn:
        migrate(conn)
    with token_session(token) as session:
        stored = preregister(session, registration)
    print_json(stored.to_json())


@protocol_app.command("power")
@answered
def power(
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE.yaml", help="The protocol (see docs/protocol-yaml.md)."),
    ],
    effect: Annotated[
        float | None,
        typer.Option("--effect", metavar="D", help="Shift on B days (default: one SD)."),
    ] = None,
    sd: Annotated[
        float | None, typer.Option("--sd", metavar="S", help="Noise SD (default 1).")
    ] = None,
    autocorrelation: Annotated[
        float | None,
        typer.Option("--autocorrelation", metavar="R", help="Lag-one AR(1) (default 0)."),
    ] = None,
    simulations: Annotated[
        int | None,
        typer.Option("--simulations", metavar="N", help="Simulated studies (default 1000)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the simulation (default 0).")
    ] = None,
) -> None:
    """Simulated power of the protocol's registered randomization test under its own
    randomization, with its MC SE and the minimum detectable effect at 80%; print it as JSON.

    Options override the file's `power:` mapping; nothing is registered.
    """
    from americano_pipelines.protocol_analyses.power import protocol_power
    from americano_pipelines.registration.protocol_file import load_protocol_file

    registration = load_protocol_file(file)
    print_json(
        protocol_power(
            registration,
            effect=effect,
            sd=sd,
            autocorrelation=autocorrelation,
            simulations=simulations,
            seed=seed,
        )
    )


def _user_token(token: str | None) -> str:
    """The CLI user's session: commands that act for a user need that user's token."""
    if token is None:
        raise InputError(
            "AMERICANO_USER_TOKEN: not set; a protocol is registered by its own user: create "
            "a token with `americano users token create --user-id U` and set "
            "AMERICANO_USER_TOKEN to it",
            field="AMERICANO_USER_TOKEN",
        )
    return token


@protocol_app.command("deviation")
@answered
def deviation(
    protocol_id: Annotated[str, typer.Argument(metavar="PROTOCOL_ID")],
    reason: Annotated[str, typer.Option("--reason", help="Why the plan was departed from.")],
    description: Annotated[str, typer.Option("--description", help="What happened.")],
    phase: Annotated[
        str | None, typer.Option("--phase", metavar="LABEL", help="The phase it concerns.")
    ] = None,
    actual_end_date: Annotated[
        str | None,
        typer.Option("--actual-end-date", metavar="YYYY-MM-DD", help="When the phase ended."),
    ] = None,
    timestamp: Annotated[
        str | None,
        typer.Option("--timestamp", metavar="ISO", help="When it happened (default: now)."),
    ] = None,
) -> None:
    """Record a deviation from a registered protocol (an actual phase end included) in its
    append-only log, as the user of AMERICANO_USER_TOKEN; print the protocol."""
    import datetime as dt

    from americano_pipelines.config import get_settings
    from americano_pipelines.db.connection import token_session
    from americano_pipelines.db.protocols import record_deviation

    token = _user_token(get_settings().user_token)
    when = _parse(timestamp, dt.datetime.fromisoformat, "timestamp") or dt.datetime.now(dt.UTC)
    ended = _parse(actual_end_date, dt.date.fromisoformat, "actualEndDate")
    with token_session(token) as session:
        stored = record_deviation(
            session,
            protocol_id,
            timestamp=when,
            reason=reason,
            description=description,
            phase=phase,
            actual_end_date=ended,
        )
    print_json(stored.to_json())


def _parse(text: str | None, parse, name: str):
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError:
        raise InputError(f"{name}: not an ISO date or time: {text!r}", field=name) from None

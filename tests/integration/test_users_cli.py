"""`americano users token create/revoke`: a token is printed once, stored only as its sha256,
binds a session to its user, and stops working when revoked."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from americano_pipelines.cli.users import users_app
from americano_pipelines.db.connection import token_session
from americano_pipelines.errors import InputError


def _users(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(users_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_token_is_shown_once_stored_hashed_and_revocable(platform_env: Path) -> None:
    url = os.environ["AMERICANO_DATABASE_URL"]
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO users (id, email) VALUES ('tok_user', 'tok@example.org') "
            "ON CONFLICT DO NOTHING"
        )
    code, out, err = _users("token", "create", "--user-id", "tok_user", "--name", "laptop")
    assert code == 0, err
    issued = json.loads(out)
    assert issued["userId"] == "tok_user" and issued["kind"] == "api"
    assert issued["token"].startswith("amr_") and len(issued["token"]) > 40
    with psycopg.connect(url) as conn:
        stored = conn.execute(
            "SELECT token_hash, name FROM americano_auth.user_tokens WHERE id = %s",
            (issued["tokenId"],),
        ).fetchone()
        dumped = conn.execute("SELECT t::text FROM americano_auth.user_tokens t").fetchall()
    assert bytes(stored[0]) == hashlib.sha256(issued["token"].encode()).digest()
    assert stored[1] == "laptop"
    assert not any(issued["token"] in row for (row,) in dumped)
    with token_session(issued["token"], owner_url=url) as session:
        assert session.execute("SELECT americano_current_user_id()").fetchone()[0] == "tok_user"

    code, out, err = _users("token", "revoke", issued["tokenId"])
    assert code == 0, err
    assert json.loads(out)["tokenId"] == issued["tokenId"]
    with pytest.raises(InputError, match="^token: unknown, expired or revoked"):
        with token_session(issued["token"], owner_url=url):
            pass
    code, _, err = _users("token", "revoke", issued["tokenId"])
    assert code == 2 and err.startswith("error: tokenId: no active token")


def test_a_token_for_no_user_exits_2(platform_env: Path) -> None:
    code, out, err = _users("token", "create", "--user-id", "ghost")
    assert (code, out) == (2, "")
    assert err == "error: userId: no user with id 'ghost'\n"

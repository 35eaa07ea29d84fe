"""`make ui` (`americano ui`) opens the graph on the first try: the webserver loads the code
location, and every asset of the definitions is in it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

AMERICANO = Path(sys.executable).parent / "americano"
WORKSPACE_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries {
  loadStatus locationOrLoadError { __typename
    ... on PythonError { message }
    ... on RepositoryLocation { repositories { assetNodes { assetKey { path } } } } } } } } }"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _workspace(port: int) -> dict | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": WORKSPACE_QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
    except OSError:
        return None  # not serving yet
    return entries[0] if entries and entries[0]["loadStatus"] == "LOADED" else None


def test_the_ui_loads_every_asset_on_the_first_try(tmp_path: Path) -> None:
    from americano_pipelines.definitions import defs

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    env.update(AMERICANO_HOME=str(tmp_path / "home"), AMERICANO_DATA_DIR=str(tmp_path / "data"))
    log = (tmp_path / "ui.log").open("w")
    ui = subprocess.Popen(
        [str(AMERICANO), "ui", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # dagster.yaml gives the code location 600 s to load; wait as long, never reload.
        deadline = time.monotonic() + 660
        entry = None
        while entry is None and time.monotonic() < deadline and ui.poll() is None:
            time.sleep(5)
            entry = _workspace(port)
        assert entry is not None, (tmp_path / "ui.log").read_text()[-3000:]
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location.get("message")
        served = {
            "/".join(node["assetKey"]["path"])
            for repository in location["repositories"]
            for node in repository["assetNodes"]
        }
        expected = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
        assert served == expected
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        try:
            ui.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
        log.close()

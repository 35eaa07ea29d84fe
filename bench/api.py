"""Benchmark: the HTTP API under a bounded loopback load, against its own trivial endpoint.

Sets up a small demo study (2 users, 63 days) in a fresh database on the server at
AMERICANO_DATABASE_URL (required), builds the warehouse up to the marts, issues a token, and
starts `americano serve` on 127.0.0.1 in a subprocess (so the load generator does not share the
server's interpreter). Then, for each endpoint in turn, an httpx load generator keeps
`CONCURRENCY` requests in flight for `SECONDS` seconds (about 40 s of load in all, loopback
only): `/healthz` (the baseline: FastAPI's trivial endpoint, no token, no database), then
sequential boundaries, the ABAB randomization test (1,000 permutations) and change points
(200 bootstrap refits, the CLI's default). It reports requests/s and p50/p99 latency per
endpoint, and `ratio_vs_healthz` (the endpoint's requests/s over /healthz's, measured in the same
run: the share of the trivial endpoint's throughput it keeps). Last, two ITS requests (tiny
sampler settings) on the worker pool: the first spawns the worker and compiles, the second
finds its model warm (`its_warm_speedup` = first / second).

Prints human-readable lines, then one JSON object as the last line (CONTRACTS.md §6).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.api_server import DAYS, START, free_port, issue_tokens  # noqa: E402

CONCURRENCY = 8
SECONDS = 8.0
ANALYTICS = "/api/analytics/research"
BODIES = {
    "sequential": (
        f"{ANALYTICS}/sequential-boundaries",
        {"alphaLevel": 0.05, "spendingFunction": "obrien_fleming", "maxN": 100,
         "nInterimAnalyses": 4},
    ),
    "abab": (
        f"{ANALYTICS}/abab-randomization-test",
        {"userId": "user_001", "protocolId": "protocol_001", "metric": "engagement_score",
         "nPermutations": 1000},
    ),
    "changepoints": (
        f"{ANALYTICS}/change-points",
        {"userId": "user_001", "metric": "engagement_score", "startDate": "2025-09-01",
         "endDate": "2025-11-02", "minSegmentLength": 7},
    ),
}  # fmt: skip
ITS_BODY = {
    "userId": "user_001",
    "metric": "engagement_score",
    "interventionDate": "2025-10-06",
    "prePeriodDays": 30,
    "postPeriodDays": 14,
    "draws": 100,
    "tune": 100,
    "chains": 1,
}


def build_study(server: str, root: Path) -> tuple[str, dict[str, str]]:
    from americano_pipelines.cli.materialize import materialize_all
    from americano_pipelines.config import get_settings
    from americano_pipelines.db.load import load_tables
    from americano_pipelines.db.migrate import migrate
    from americano_pipelines.synth.demo_study import generate_demo_study

    name = f"americano_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(server, dbname=name)
    os.environ.update(
        AMERICANO_DATABASE_URL=url,
        AMERICANO_HOME=str(root / "home"),
        AMERICANO_DATA_DIR=str(root / "data"),
    )
    os.environ.pop("AMERICANO_DUCKDB_PATH", None)
    with psycopg.connect(url) as conn:
        migrate(conn)
        load_tables(conn, generate_demo_study(users=2, days=DAYS, seed=7, start_date=START).tables)
    groups = ("extract", "seeds", "staging", "quarantine", "intermediate", "marts")
    materialize_all(get_settings(), log=lambda _: None, groups=groups)
    return name, issue_tokens(url)


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def load(url: str, path: str, body: dict | None, headers: dict) -> dict:
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + SECONDS
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as c:

        async def worker() -> None:
            nonlocal failures
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                if body is None:
                    response = await c.get(path)
                else:
                    response = await c.post(path, json=body)
                latencies.append(time.perf_counter() - start)
                failures += response.status_code != 200

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "failures": failures,
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
    }


def main() -> None:
    server = os.environ.get("AMERICANO_DATABASE_URL")
    if not server:
        sys.exit("bench/api.py needs AMERICANO_DATABASE_URL (a PostgreSQL server it may add a "
                 "database to)")  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="americano-bench-api-"))
    name, tokens = build_study(server, root)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [sys.executable, "-m", "americano_pipelines.cli", "serve", "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {tokens['user_001']}"}
        results = {"healthz": asyncio.run(load(url, "/healthz", None, {}))}
        for key, (path, body) in BODIES.items():
            results[key] = asyncio.run(load(url, path, body, headers))
        its = []
        for _ in range(2):
            start = time.perf_counter()
            response = httpx.post(f"{url}{ANALYTICS}/bayesian-its", json=ITS_BODY,
                                  headers=headers, timeout=600)  # fmt: skip
            its.append(time.perf_counter() - start)
            assert response.status_code == 200, response.text
    finally:
        serve.terminate()
        serve.wait(timeout=30)
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    figures: dict[str, float | int | str] = {"bench": "api"}
    for key, result in results.items():
        print(f"{key:>13}: {result['rps']:8.1f} req/s  p50 {result['p50_ms']:7.1f} ms  "
              f"p99 {result['p99_ms']:7.1f} ms  ({result['requests']} requests, "
              f"{result['failures']} not 200)")  # fmt: skip
        assert result["failures"] == 0, key
        figures[f"{key}_rps"] = round(result["rps"], 1)
        figures[f"{key}_p50_ms"] = round(result["p50_ms"], 2)
        figures[f"{key}_p99_ms"] = round(result["p99_ms"], 2)
        if key != "healthz":
            figures[f"{key}_ratio_vs_healthz"] = round(result["rps"] / results["healthz"]["rps"], 4)
    print(f"ITS: first request {its[0]:.2f} s (spawn + compile), second {its[1]:.2f} s (warm)")
    figures["its_first_s"] = round(its[0], 2)
    figures["its_warm_s"] = round(its[1], 2)
    figures["its_warm_speedup"] = round(its[0] / its[1], 2)
    figures["ratio_vs_healthz"] = figures["sequential_ratio_vs_healthz"]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

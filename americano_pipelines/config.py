"""Every setting, read from the environment in one place.

Nothing else in the package reads `os.environ` for a setting; it calls `get_settings()`.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

from americano_pipelines.errors import InputError

# The checkout: dbt project, dagster.yaml and dvc.yaml live beside the package (an editable
# install, which is how `make install` installs it).
REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


@dataclass(frozen=True)
class Settings:
    home: Path
    """All local state: embedded PostgreSQL, warehouse, MLflow store, reports, DVC remote."""
    state_dir: Path
    """Outside every home: the registry of homes that held a cluster (`americano_pipelines.db.home`).
    `$XDG_STATE_HOME/americano`, by default `~/.local/state/americano`."""
    database_url: str | None
    """The OLTP database as its owner (migrations, extraction, administration); None means the
    embedded PostgreSQL under `home`."""
    app_database_url: str | None
    """How the application role logs in; None: `database_url` with the role as its user and no
    password (right for the trust or peer authentication of a local server)."""
    user_token: str | None
    """The CLI user's bearer token (`americano users token create`): commands that act for a
    user act for this token's user."""
    duckdb_path: str
    """The warehouse: a file path, or `md:<db>` for MotherDuck."""
    data_dir: Path
    """Root of the versioned Parquet tree (`raw/<table>/...`), tracked by DVC."""
    mlflow_tracking_uri: str
    dvc_remote: str
    """DVC remote URL; a local folder under `home` by default."""
    oura_client_id: str | None
    oura_client_secret: str | None
    whoop_client_id: str | None
    whoop_client_secret: str | None
    token_key: str | None
    """Key that encrypts OAuth tokens at rest; generated into `home` when unset."""
    """Oura's API (`/v2/usercollection/...`) and its token endpoint (`/oauth/token`)."""
    """Where Oura users authorize an app (`/oauth/authorize`)."""
    """WHOOP's developer API (`/v2/cycle`, `/v2/recovery`, `/v2/activity/sleep`)."""
    """WHOOP's OAuth endpoints (`/auth`, `/token`)."""
    timezone: str
    """The platform's IANA timezone: what "today" is, e.g. for a protocol's registration day,
    and the zone of the nightly schedule."""
    nightly_cron: str
    """When the `nightly_refresh` schedule runs (a cron expression, in `timezone`)."""
    executor: str
    """AMERICANO_EXECUTOR as given: how the protocol analyses run (`analyses_executor` checks it)."""
    celery_broker: str
    """AMERICANO_CELERY_BROKER as given: the dagster-celery broker (`checked_celery_broker`)."""
    celery_queue: str
    """AMERICANO_CELERY_QUEUE: the broker queue the runs send steps to and the workers serve."""
    dagster_storage: str
    """AMERICANO_DAGSTER_STORAGE as given: where the Dagster instance keeps runs and events
    (`dagster_storage_backend` checks it)."""
    drift_warn_share: str = "0.5"
    """AMERICANO_DRIFT_WARN_SHARE as given: the share of drifted columns past which a user's
    week fails the `drift_share` check, a warning (`checked_drift_warn_share`)."""
    quarantine_max_share: str = "0.01"
    """AMERICANO_QUARANTINE_MAX_SHARE as given: the share of a table's rows its quality gate may
    quarantine before the asset check `quarantine_within_share` fails (`quarantine_share_limit`)."""
    api_max_body_bytes: str = "1048576"
    """AMERICANO_API_MAX_BODY_BYTES as given: the largest request body the HTTP API reads
    (`checked_api_max_body_bytes`); a larger one is answered 413."""
    api_its_timeout: str = "300"
    """AMERICANO_API_ITS_TIMEOUT as given: seconds an ITS request may sample before it is
    answered 504 and its worker restarted (`checked_api_its_timeout`)."""
    api_its_workers: str = "1"
    """AMERICANO_API_ITS_WORKERS as given: worker processes that fit the HTTP API's ITS
    requests, each keeping its compiled model warm (`checked_api_its_workers`)."""
    demo_drift_weeks: str = "4"
    """AMERICANO_DEMO_DRIFT_WEEKS as given: how many of the latest ISO weeks `make demo`
    computes the weekly drift of (`demo_drift_week_count`); `all` or a whole number."""
    oura_api_base_url: str = ""
    """Oura's API (`/v2/usercollection/...`) and its token endpoint (`/oauth/token`)."""
    oura_auth_base_url: str = ""
    """Where Oura users authorize an app (`/oauth/authorize`)."""
    whoop_api_base_url: str = ""
    """WHOOP's developer API (`/v2/cycle`, `/v2/recovery`, `/v2/activity/sleep`)."""
    whoop_auth_base_url: str = ""
    """WHOOP's OAuth endpoints (`/auth`, `/token`)."""
    api_db_pool_size: str = "8"
    """AMERICANO_API_DB_POOL_SIZE: most PostgreSQL connections the API keeps open (application
    role), each checked out by one request for its token's user and reset when returned
    (`checked_api_db_pool_size`)."""

    @property
    def tzinfo(self) -> dt.tzinfo:
        """`timezone` as a tzinfo; an unknown name is an InputError naming AMERICANO_TIMEZONE.

        Checked here rather than in `get_settings`, which runs on import, so that only what
        needs the zone fails on a bad one, with one line."""
        if self.timezone == "UTC":
            return dt.UTC  # needs no timezone database
        try:
            return zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder
            raise InputError(
                f"AMERICANO_TIMEZONE: unknown timezone {self.timezone!r}; use an IANA name "
                "such as UTC or Europe/Berlin",
                field="AMERICANO_TIMEZONE",
            ) from None

    # The three below are checked where they are used, not in `get_settings` (see `tzinfo`).

    @property
    def analyses_executor(self) -> str:
        """`in_process`, `multiprocess` or `celery`; another value is an InputError."""
        return _one_of("AMERICANO_EXECUTOR", self.executor, EXECUTORS)

    @property
    def dagster_storage_backend(self) -> str:
        """`sqlite` (files under `home`) or `postgres` (the OLTP database's `dagster` schema)."""
        return _one_of("AMERICANO_DAGSTER_STORAGE", self.dagster_storage, DAGSTER_STORAGES)

    @property
    def checked_celery_broker(self) -> str:
        """The broker URL, when it names a transport the workers speak (RabbitMQ or Redis)."""
        scheme = self.celery_broker.partition("://")[0]
        if "://" not in self.celery_broker or scheme not in CELERY_BROKER_SCHEMES:
            raise InputError(
                f"AMERICANO_CELERY_BROKER: {self.celery_broker!r} is not a broker URL; use "
                "amqp://user:password@host:5672// (RabbitMQ) or redis://host:6379/0 (Redis)",
                field="AMERICANO_CELERY_BROKER",
            )
        return self.celery_broker

    @property
    def checked_drift_warn_share(self) -> float:
        """The drift warning's share as a number in [0, 1); another value is an InputError."""
        return _share("AMERICANO_DRIFT_WARN_SHARE", self.drift_warn_share, one_allowed=False)

    @property
    def quarantine_share_limit(self) -> float:
        """`quarantine_max_share` as a number in [0, 1]; anything else is an InputError."""
        return _share("AMERICANO_QUARANTINE_MAX_SHARE", self.quarantine_max_share, one_allowed=True)

    @property
    def checked_api_max_body_bytes(self) -> int:
        return int(_positive("AMERICANO_API_MAX_BODY_BYTES", self.api_max_body_bytes, integer=True))

    @property
    def checked_api_its_timeout(self) -> float:
        return _positive("AMERICANO_API_ITS_TIMEOUT", self.api_its_timeout, integer=False)

    @property
    def checked_api_its_workers(self) -> int:
        return int(_positive("AMERICANO_API_ITS_WORKERS", self.api_its_workers, integer=True))

    @property
    def demo_drift_week_count(self) -> int | None:
        """`demo_drift_weeks` as a count (None: all weeks); another value is an InputError."""
        text = self.demo_drift_weeks.strip()
        if text == "all":
            return None
        if not text.isdigit():
            raise InputError(
                f"AMERICANO_DEMO_DRIFT_WEEKS: {text!r} is neither 'all' nor a whole number",
                field="AMERICANO_DEMO_DRIFT_WEEKS",
            )
        return int(text)

    @property
    def checked_api_db_pool_size(self) -> int:
        return int(_positive("AMERICANO_API_DB_POOL_SIZE", self.api_db_pool_size, integer=True))

    @property
    def embedded_pg_dir(self) -> Path:
        return self.home / "pgdata"

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def provenance_dir(self) -> Path:
        """Snapshots of what analyses recorded (analysis_runs): beside the raw tree, unversioned."""
        return self.data_dir / "provenance"

    @property
    def results_dir(self) -> Path:
        """The analyses' results, one Parquet file per table and protocol
        (`analyses/<table>/<protocol>.parquet`): what the warehouse's `analyses.*` views read."""
        return self.data_dir / "analyses"

    @property
    def quarantine_dir(self) -> Path:
        """Rows the quality gates refused (`quarantine/<table>/*.parquet`), beside the raw tree
        and outside it: the data version is what PostgreSQL held, whatever the rules say."""
        return self.data_dir / "quarantine"

    @property
    def token_key_path(self) -> Path:
        """Where the generated token key is kept when AMERICANO_TOKEN_KEY is unset (mode 0600)."""
        return self.home / "token.key"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def pytensor_compiledir(self) -> Path:
        return self.home / "pytensor"

    @property
    def run_log_path(self) -> Path:
        """Where the runs' own output goes (dbt's progress lines, DVC's messages)."""
        return self.home / "logs" / "runs.log"

    @property
    def dbt_target_dir(self) -> Path:
        return self.home / "dbt_target"


EXECUTORS = ("in_process", "multiprocess", "celery")
DAGSTER_STORAGES = ("sqlite", "postgres")
CELERY_BROKER_SCHEMES = ("amqp", "amqps", "pyamqp", "redis", "rediss")
DEFAULT_CELERY_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
# The wearable providers' real endpoints, each overridden by its upper-cased name
# (OURA_API_BASE_URL, ...) so that a local server can stand in for the cloud.
PROVIDER_BASE_URLS = {
    "oura_api_base_url": "https://api.ouraring.com",
    "oura_auth_base_url": "https://cloud.ouraring.com",
    "whoop_api_base_url": "https://api.prod.whoop.com/developer",
    "whoop_auth_base_url": "https://api.prod.whoop.com/oauth/oauth2",
}


def _one_of(variable: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InputError(
            f"{variable}: unknown value {value!r}; use one of {', '.join(choices)}",
            field=variable,
        )
    return value


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def _share(variable: str, text: str, *, one_allowed: bool) -> float:
    """`text` as a share in [0, 1] ([0, 1) unless `one_allowed`); an InputError naming
    `variable` otherwise."""
    try:
        share = float(text)
    except ValueError:
        share = float("nan")
    if not (0 <= share <= 1 if one_allowed else 0 <= share < 1):
        interval = "[0, 1]" if one_allowed else "[0, 1)"
        raise InputError(
            f"{variable}: {text!r} is not a share in {interval}, e.g. 0.5", field=variable
        )
    return share


def _positive(variable: str, text: str, *, integer: bool) -> float:
    """`text` as a positive number (a whole one when `integer`); an InputError naming `variable`
    otherwise."""
    try:
        value = float(int(text)) if integer else float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        kind = "a positive whole number" if integer else "a positive number"
        raise InputError(f"{variable}: {text!r} is not {kind}", field=variable)
    return value


def get_settings() -> Settings:
    """Read the settings now (cheap; tests change the environment between calls)."""
    home = Path(_env("AMERICANO_HOME") or ".americano").resolve()
    data_dir = Path(_env("AMERICANO_DATA_DIR") or "data").resolve()
    # The XDG base directory spec ignores a relative XDG_STATE_HOME.
    xdg_state = _env("XDG_STATE_HOME")
    state_home = Path(xdg_state) if xdg_state and Path(xdg_state).is_absolute() else None
    return Settings(
        home=home,
        state_dir=(state_home or Path(os.path.expanduser("~/.local/state"))) / "americano",
        database_url=_env("AMERICANO_DATABASE_URL"),
        app_database_url=_env("AMERICANO_APP_DATABASE_URL"),
        user_token=_env("AMERICANO_USER_TOKEN"),
        duckdb_path=_env("AMERICANO_DUCKDB_PATH") or str(home / "warehouse.duckdb"),
        data_dir=data_dir,
        mlflow_tracking_uri=_env("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}",
        dvc_remote=_env("AMERICANO_DVC_REMOTE") or str(home / "dvc-remote"),
        oura_client_id=_env("OURA_CLIENT_ID"),
        oura_client_secret=_env("OURA_CLIENT_SECRET"),
        whoop_client_id=_env("WHOOP_CLIENT_ID"),
        whoop_client_secret=_env("WHOOP_CLIENT_SECRET"),
        token_key=_env("AMERICANO_TOKEN_KEY"),
        timezone=_env("AMERICANO_TIMEZONE") or "UTC",
        nightly_cron=_env("AMERICANO_NIGHTLY_CRON") or "0 2 * * *",
        executor=_env("AMERICANO_EXECUTOR") or "multiprocess",
        celery_broker=_env("AMERICANO_CELERY_BROKER") or DEFAULT_CELERY_BROKER,
        celery_queue=_env("AMERICANO_CELERY_QUEUE") or "dagster",
        dagster_storage=_env("AMERICANO_DAGSTER_STORAGE") or "sqlite",
        drift_warn_share=_env("AMERICANO_DRIFT_WARN_SHARE") or "0.5",
        quarantine_max_share=_env("AMERICANO_QUARANTINE_MAX_SHARE") or "0.01",
        api_max_body_bytes=_env("AMERICANO_API_MAX_BODY_BYTES") or "1048576",
        api_its_timeout=_env("AMERICANO_API_ITS_TIMEOUT") or "300",
        api_its_workers=_env("AMERICANO_API_ITS_WORKERS") or "1",
        demo_drift_weeks=_env("AMERICANO_DEMO_DRIFT_WEEKS") or "4",
        **{
            field: (_env(field.upper()) or default).rstrip("/")
            for field, default in PROVIDER_BASE_URLS.items()
        },
        api_db_pool_size=_env("AMERICANO_API_DB_POOL_SIZE") or "8",
    )


def configure_pytensor_cache() -> None:
    """Keep PyTensor's C compile cache under AMERICANO_HOME so repeated runs start warm.

    Must run before pytensor is first imported; the package's __init__ calls it.
    """
    if "compiledir" in os.environ.get("PYTENSOR_FLAGS", ""):
        return
    compiledir = get_settings().pytensor_compiledir
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    os.environ["PYTENSOR_FLAGS"] = ",".join(
        f for f in (flags, f"base_compiledir={compiledir}") if f
    )


def dbt_environment(settings: Settings) -> dict[str, str]:
    """What the dbt project reads (profiles.yml, sources): the warehouse, the raw Parquet root
    and the analyses' result files."""
    return {
        "AMERICANO_DUCKDB_PATH": settings.duckdb_path,
        "AMERICANO_RAW_DIR": str(settings.raw_dir),
        "AMERICANO_RESULTS_DIR": str(settings.results_dir),
        "AMERICANO_QUARANTINE_DIR": str(settings.quarantine_dir),
    }


def dagster_home(settings: Settings) -> Path:
    """Dagster's instance (run history, materializations) lives with the rest of the state."""
    return settings.home / "dagster"

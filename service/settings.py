"""One Settings object for the service, read from the environment (prefix ``HELSINKI_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The secret's default: accepted in development only.
PLACEHOLDER_SECRET = "changethis"

DEFAULT_PRIORS = Path(__file__).resolve().parent.parent / "priors"


class Settings(BaseSettings):
    """Everything the service reads from its environment; see docs/operations.md."""

    model_config = SettingsConfigDict(env_prefix="HELSINKI_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    #: Default: a SQLite file ``helsinki.db`` under ``data_dir``.
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    #: Pepper of the API-key hashes; a placeholder is refused outside development.
    secret_key: str = PLACEHOLDER_SECRET
    #: Anonymous clients may read questions and forecasts.
    public_reads: bool = True
    priors_dir: Path = DEFAULT_PRIORS
    #: Largest request body accepted, in bytes (413 beyond).
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    #: How often the API looks for a newly published fit, and the SSE stream for new events.
    poll_seconds: float = Field(1.0, gt=0)
    #: A running job whose heartbeat is older than this is taken to be dead and picked up again.
    stale_job_seconds: float = Field(120.0, gt=0)
    heartbeat_seconds: float = Field(10.0, gt=0)
    #: A job that failed this often is given up (recorded with its reason).
    max_job_attempts: int = Field(3, ge=1)
    #: Sampler overrides for the worker's fits (default: priors/model.yaml's).
    fit_chains: int | None = None
    fit_draws: int | None = None
    fit_tune: int | None = None
    #: ``helsinki serve`` starts the worker process from the app's lifespan.
    start_worker: bool = False
    #: A worker process that died is started again after this long, doubled at each death up
    #: to the maximum; a worker that lived for the maximum resets it.
    worker_restart_seconds: float = Field(1.0, gt=0)
    worker_restart_max_seconds: float = Field(60.0, gt=0)
    page_size: int = Field(50, ge=1, le=500)

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment != "development" and self.secret_key == PLACEHOLDER_SECRET:
            raise ValueError(
                f"HELSINKI_SECRET_KEY is the placeholder {PLACEHOLDER_SECRET!r}: set a random "
                "secret (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) "
                "outside development"
            )
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # psycopg 3 is the PostgreSQL driver; accept the plain scheme too.
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.data_dir / 'helsinki.db').resolve()}"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "fits"

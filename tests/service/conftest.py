"""Fixtures for the service: the PyTensor cache under the repository's var/."""

from __future__ import annotations

import os
from pathlib import Path

# PyTensor reads its flags at import: point its compile cache at the repo's var/ first.
_cache = Path(__file__).resolve().parents[2] / "var" / "cache" / "pytensor"
_cache.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={_cache}")


# --- the API: a real app on a real, migrated database ------------------------------------

import dataclasses  # noqa: E402
import shutil  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import pytest  # noqa: E402

TINY_PRIORS = Path(__file__).resolve().parent / "tiny_priors"
POSTGRES_ENV = "HELSINKI_TEST_POSTGRES_URL"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PostgreSQL tests run when HELSINKI_TEST_POSTGRES_URL is set or `-m postgres` asks for
    them (and then fail, not skip, without the URL); otherwise they are deselected."""
    if os.environ.get(POSTGRES_ENV) or "postgres" in (config.getoption("-m") or ""):
        return
    kept = [i for i in items if i.get_closest_marker("postgres") is None]
    dropped = [i for i in items if i.get_closest_marker("postgres") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def relaxed_config():  # type: ignore[no-untyped-def]
    """The tiny catalog's config with publish criteria relaxed: 2 chains x 200 draws cannot
    meet the real thresholds (ESS 400, no divergences), and these tests are about the service,
    not about convergence (tests/models covers that)."""
    from models.catalog import load_catalog
    from models.config import PublishCriteria

    config = load_catalog(TINY_PRIORS).model_config
    return config.model_copy(
        update={
            "publish": PublishCriteria(max_rhat=1.5, min_ess_bulk=10, max_divergences=1_000_000)
        }
    )


@pytest.fixture(scope="session")
def published_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real (tiny) fit of the tiny catalog, shared by the tests that need a posterior."""
    from models.artifacts import save
    from models.catalog import load_catalog
    from models.forecast_model import ForecastModel

    config = relaxed_config()
    data = load_catalog(TINY_PRIORS).to_forecast_data()
    posterior = ForecastModel(config).fit(data)
    assert posterior.diagnostics.publishable, posterior.diagnostics.reasons
    posterior = dataclasses.replace(posterior, fit_id="fit-fixture")
    return save(posterior, tmp_path_factory.mktemp("artifact") / "tiny.nc")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'helsinki.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.fail(f"{POSTGRES_ENV} is not set: PostgreSQL tests need a server", pytrace=False)
    import psycopg

    name = "helsinki_test_" + uuid.uuid4().hex[:10]
    admin = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = admin.rpartition("/")
    yield f"{head}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    from service.settings import Settings

    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        priors_dir=TINY_PRIORS,
        poll_seconds=0.2,
        heartbeat_seconds=0.2,
        stale_job_seconds=30,
        max_body_bytes=4096,
    )


@pytest.fixture
def prepared(settings):  # type: ignore[no-untyped-def]
    """Migrated by Alembic, with the tiny catalog loaded (as on first start)."""
    from service.serving import prepare_database

    prepare_database(settings)
    return settings


@dataclass
class Keys:
    reader: str
    forecaster: str
    admin: str

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, role)}"}


@pytest.fixture
def keys(prepared) -> Keys:  # type: ignore[no-untyped-def]
    from service.serving import create_key

    return Keys(
        reader=create_key(prepared, "reader", "rita"),
        forecaster=create_key(prepared, "forecaster", "fred"),
        admin=create_key(prepared, "admin", "ada"),
    )


#: The tiny catalog's questions (tests/service/tiny_priors/questions.yaml) by id.
TINY_TITLES = {
    "truce-by-2027": "Will there be a truce by 2027?",
    "summit-by-2027": "Will there be a summit by 2027?",
    "sanctions-relief-by-2027": "Will sanctions be relieved by 2027?",
}


def newest_elicitations(priors_dir: Path) -> dict[str, datetime | None]:
    """Each catalog question's newest elicitation time (None: no elicitation): the ``as_of``
    of its forecasts from a fit of the catalog."""
    from models.catalog import load_catalog

    catalog = load_catalog(priors_dir)
    newest: dict[str, datetime] = {}
    for e in catalog.elicitations:
        newest[e.question_id] = max(newest.get(e.question_id, e.created_at), e.created_at)
    return {q.id: newest.get(q.id) for q in catalog.questions}


def catalog_as_of() -> dict[str, str | None]:
    """``newest_elicitations`` of the tiny catalog as the API writes the times."""
    from service.schemas.times import utc_text

    return {
        q: None if t is None else utc_text(t) for q, t in newest_elicitations(TINY_PRIORS).items()
    }


def record_fit(settings, fit_id: str, status: str, **fields) -> None:  # type: ignore[no-untyped-def]
    """Record a fit row as the worker would (``fields`` override the defaults)."""
    from service.store.database import make_engine, make_session_factory
    from service.store.tables import FitRow

    now = datetime.now(UTC)
    values = {
        "started_at": now,
        "finished_at": now,
        "published_at": now if status == "published" else None,
        "seconds": 1.0,
        "inputs": {"fixture": True},
        **fields,
    }
    engine = make_engine(settings)
    with make_session_factory(engine)() as session:
        session.add(FitRow(id=fit_id, status=status, **values))
        session.commit()
    engine.dispose()


def let_the_heartbeat_go_stale(session, job_id: int, settings) -> None:  # type: ignore[no-untyped-def]
    """Backdate a running job's heartbeat past ``settings.stale_job_seconds``, as a worker
    that stopped beating leaves it, and commit."""
    from datetime import timedelta

    from service.store.tables import FitJobRow

    row = session.get(FitJobRow, job_id)
    assert row is not None
    row.heartbeat_at = datetime.now(UTC) - timedelta(seconds=settings.stale_job_seconds + 5)
    session.commit()


def post_evidence(  # type: ignore[no-untyped-def]
    client, keys, ratio: float, title: str | None = None, question_id: str = "truce-by-2027"
) -> str:
    """Post evidence with likelihood ratio ``ratio`` on one question, observed after the tiny
    catalog's elicitations, as the forecaster; its id."""
    body = {
        "title": title or f"Report with ratio {ratio:g}",
        "observed_at": "2026-06-01T12:00:00Z",
        "reliability": "verified-report",
        "effects": [{"question_id": question_id, "likelihood_ratio": ratio}],
    }
    r = client.post("/v1/evidence", headers=keys.auth("forecaster"), json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def retract_evidence(client, keys, evidence_id: str) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        f"/v1/evidence/{evidence_id}/retraction",
        headers=keys.auth("forecaster"),
        json={"reason": "misreported"},
    )
    assert r.status_code == 201, r.text


def publish_artifact(settings, artifact: Path, fit_id: str = "fit-fixture") -> str:  # type: ignore[no-untyped-def]
    """Record a copy of ``artifact`` as the latest published fit (as the worker would)."""
    from service.live import sha256_of

    dest = settings.artifacts_dir / f"{fit_id}.nc"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(artifact, dest)
    record_fit(
        settings,
        fit_id,
        "published",
        diagnostics={"publishable": True},
        artifact_path=str(dest),
        artifact_sha256=sha256_of(dest),
    )
    return fit_id


@pytest.fixture
def published(prepared, published_artifact: Path):  # type: ignore[no-untyped-def]
    """The prepared database with a published fit of the tiny catalog."""
    publish_artifact(prepared, published_artifact)
    return prepared


@pytest.fixture
def client(prepared, keys):  # type: ignore[no-untyped-def]
    """TestClient of the real app (lifespan run) on the prepared database, no published fit."""
    from fastapi.testclient import TestClient

    from service.app import create_app

    with TestClient(create_app(prepared)) as c:
        yield c


@pytest.fixture
def live_client(published, keys):  # type: ignore[no-untyped-def]
    """TestClient of the real app with the tiny catalog's fit published and loaded."""
    from fastapi.testclient import TestClient

    from service.app import create_app

    with TestClient(create_app(published)) as c:
        yield c

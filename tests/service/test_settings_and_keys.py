"""Settings from the environment, the placeholder secret, and `helsinki keys create`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.cli import main
from service.settings import Settings


def test_settings_read_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HELSINKI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HELSINKI_PORT", "9001")
    monkeypatch.setenv("HELSINKI_PUBLIC_READS", "false")
    s = Settings()
    assert s.port == 9001 and s.public_reads is False and s.host == "127.0.0.1"
    assert s.sqlalchemy_url == f"sqlite:///{tmp_path.resolve() / 'helsinki.db'}"
    monkeypatch.setenv("HELSINKI_DATABASE_URL", "postgresql://u:p@db/helsinki")
    assert Settings().sqlalchemy_url == "postgresql+psycopg://u:p@db/helsinki"


def test_a_placeholder_secret_is_refused_outside_development(monkeypatch):
    monkeypatch.setenv("HELSINKI_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="HELSINKI_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("HELSINKI_SECRET_KEY", "s3cr3t-and-long-enough")
    assert Settings().environment == "production"


def test_keys_create_prints_the_key_alone_on_its_last_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HELSINKI_DATA_DIR", str(tmp_path))
    assert main(["keys", "create", "--role", "forecaster", "--name", "fred"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("hk_") and " " not in key and len(key) > 40


def test_keys_create_on_a_new_database_prints_no_migration_log(tmp_path):
    """The README's `KEY=$(helsinki keys create ... | tail -n 1)` on a fresh machine: the
    migrations that create the database run, and the terminal shows the key's two lines
    only, not the database's progress log."""
    helsinki = Path(sys.executable).with_name("helsinki")
    env = {**os.environ, "HELSINKI_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [str(helsinki), "keys", "create", "--role", "reader", "--name", "rita"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert (tmp_path / "helsinki.db").exists()
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith("hk_")


def test_reads_need_a_key_when_public_reads_are_off(prepared, keys):
    from fastapi.testclient import TestClient

    from service.app import create_app

    closed = prepared.model_copy(update={"public_reads": False})
    with TestClient(create_app(closed)) as client:
        assert client.get("/v1/questions").status_code == 401
        assert client.get("/v1/questions", headers=keys.auth("reader")).status_code == 200


def test_keys_list_and_revoke_on_the_command_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HELSINKI_DATA_DIR", str(tmp_path))
    assert main(["keys", "list"]) == 0
    assert "no API keys yet" in capsys.readouterr().out
    assert main(["keys", "create", "--role", "reader", "--name", "rita"]) == 0
    assert main(["keys", "create", "--role", "admin", "--name", "ada"]) == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["keys", "revoke", "1"]) == 0
    assert "revoked key 1 (reader, 'rita')" in capsys.readouterr().out
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["id", "role", "created"]
    rita, ada = lines[1], lines[2]
    assert rita.split()[:2] == ["1", "reader"] and rita.endswith("rita")
    assert ada.split()[:2] == ["2", "admin"] and ada.endswith("ada")
    # Rita's line has a revocation time, Ada's a dash; no key is ever shown.
    assert rita.split()[4] != "-" and len(rita.split()) == 7 and ada.split()[4] == "-"
    assert secret not in out and "hk_" not in out
    assert main(["keys", "revoke", "9"]) == 2
    assert "no API key with id 9" in capsys.readouterr().err


def test_a_revoked_key_is_refused_at_once(prepared, keys):
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.domain.keys import list_api_keys, revoke_api_key
    from service.store.database import make_engine, make_session_factory

    body = {
        "title": "Talks",
        "observed_at": "2026-06-01T12:00:00Z",
        "source_url": "https://example.org/news/1",
        "reliability": "verified-report",
        "effects": [{"question_id": "truce-by-2027", "likelihood_ratio": 0.5}],
    }
    with TestClient(create_app(prepared)) as client:
        engine = make_engine(prepared)
        try:
            with make_session_factory(engine)() as session:
                (fred,) = [k for k in list_api_keys(session) if k.name == "fred"]
                first = revoke_api_key(session, fred.id)
                again = revoke_api_key(session, fred.id)
        finally:
            engine.dispose()
        assert first.revoked_at is not None and again.revoked_at == first.revoked_at
        r = client.post("/v1/evidence", headers=keys.auth("forecaster"), json=body)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        # The other keys still work.
        assert client.get("/v1/questions", headers=keys.auth("reader")).status_code == 200

"""Settings from the environment, the placeholder secret, and `helsinki keys create`."""

from __future__ import annotations

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


def test_reads_need_a_key_when_public_reads_are_off(prepared, keys):
    from fastapi.testclient import TestClient

    from service.app import create_app

    closed = prepared.model_copy(update={"public_reads": False})
    with TestClient(create_app(closed)) as client:
        assert client.get("/v1/questions").status_code == 401
        assert client.get("/v1/questions", headers=keys.auth("reader")).status_code == 200

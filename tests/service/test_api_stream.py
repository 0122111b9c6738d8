"""/v1/stream: a forecast change arrives as an SSE event; Last-Event-ID resumes after it.

ASGITransport buffers whole responses, so the stream is read from a real uvicorn server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from service.app import create_app
from tests.service.conftest import catalog_as_of

Q = "truce-by-2027"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(published) -> Iterator[str]:  # type: ignore[no-untyped-def]
    port = _free_port()
    config = uvicorn.Config(create_app(published), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _read_events(response: httpx.Response, n: int, timeout: float) -> list[dict]:
    events: list[dict] = []
    current: dict = {}
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        assert time.monotonic() < deadline, f"only {len(events)} events in {timeout} s"
        if line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and "data" in current:
            events.append(current)
            current = {}
            if len(events) == n:
                break
    return events


def _post_evidence(base: str, key: str, lr: float) -> str:
    r = httpx.post(
        f"{base}/v1/evidence",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "title": "news",
            "observed_at": "2026-06-01T00:00:00Z",
            "reliability": "official-statement",
            "effects": [{"question_id": Q, "likelihood_ratio": lr}],
        },
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_stream_delivers_a_change_and_resumes_with_last_event_id(server, keys):
    timeout = httpx.Timeout(10.0)
    with httpx.stream("GET", f"{server}/v1/stream", timeout=timeout) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        evidence_id = _post_evidence(server, keys.forecaster, 4.0)
        (event,) = _read_events(response, 1, timeout=10)
    data = event["data"]
    assert data["question_id"] == Q and data["cause"] == {"type": "evidence", "id": evidence_id}
    assert data["new_probability"] > data["old_probability"]
    assert 0.0 <= data["contentious"] <= 1.0
    # Times as the JSON API writes them (UTC with Z, not +00:00).
    assert data["computed_at"].endswith("Z") and "+00:00" not in data["computed_at"]
    served = httpx.get(f"{server}/v1/questions/{Q}/forecast/history", timeout=10).json()
    assert data["computed_at"] in {item["computed_at"] for item in served["items"]}
    # Evidence is applied on top of the question read at its newest forecast (the catalog's).
    assert data["as_of"] == catalog_as_of()[Q] == served["items"][-1]["as_of"]

    second = _post_evidence(server, keys.forecaster, 0.5)
    headers = {"Last-Event-ID": str(event["id"])}
    with httpx.stream("GET", f"{server}/v1/stream", headers=headers, timeout=timeout) as response:
        (resumed,) = _read_events(response, 1, timeout=10)
    assert resumed["id"] > event["id"] and resumed["data"]["cause"]["id"] == second
    assert resumed["data"]["old_probability"] == data["new_probability"]

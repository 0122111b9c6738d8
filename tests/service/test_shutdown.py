"""`helsinki serve` stops on Ctrl-C and on SIGTERM sent to its whole process group.

A shell's Ctrl-C and systemd signal every process of the group, so the fit worker gets the
signal too, not only the API process. Its SIGTERM handler used to set the
multiprocessing.Event it was waiting on, which deadlocked the worker, and then the API
process setting the same Event: the service hung at "Waiting for application shutdown."
until it was killed. These tests start the real service on a free port with the worker idle
(its only job is held by another worker, so nothing is fitted), signal it, and check that
every process of the group exits.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from multiprocessing import Pipe
from pathlib import Path

import pytest

from service.jobs.queue import claim_next_job
from service.jobs.worker import StopSignal, WorkerStop
from service.serving import prepare_database
from service.settings import Settings
from service.store.database import make_engine, make_session_factory
from tests.service.conftest import TINY_PRIORS

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

#: A hang check, not a speed check: a clean stop takes a few seconds.
HANG_SECONDS = 60.0
START_SECONDS = 180.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of the group that have not exited (zombies count as exited)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            alive.append(int(stat.parent.name))
    return alive


@pytest.fixture
def idle_service(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The environment of a service whose worker has nothing to do, and its log file."""
    settings = Settings(data_dir=tmp_path / "var", priors_dir=TINY_PRIORS, stale_job_seconds=3600)
    prepare_database(settings)  # migrated, the tiny catalog loaded, the first fit queued
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            assert claim_next_job(
                session,
                "a-worker-elsewhere",
                settings.stale_job_seconds,
                max_attempts=settings.max_job_attempts,
            )
    finally:
        engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELSINKI_")}
    env |= {
        "HELSINKI_DATA_DIR": str(settings.data_dir),
        "HELSINKI_PRIORS_DIR": str(TINY_PRIORS),
        "HELSINKI_STALE_JOB_SECONDS": "3600",
        "HELSINKI_PORT": str(_free_port()),
        # The idle worker waits this long between looks at the queue: a stop must not.
        "HELSINKI_POLL_SECONDS": "5",
    }
    return env, tmp_path / "serve.log"


def _start_and_wait_until_idle(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as under systemd or a shell job
        )
    url = f"http://127.0.0.1:{env['HELSINKI_PORT']}/healthz"
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"serve exited at start:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"serve did not start:\n{log_path.read_text()}")
        worker_started = re.search(r"worker INFO fit worker \S+ started", log_path.read_text())
        if worker_started:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
        time.sleep(0.2)
    time.sleep(1.0)  # the worker found the queue empty and waits (HELSINKI_POLL_SECONDS)
    return process


@pytest.mark.parametrize(
    "signum",
    [
        pytest.param(signal.SIGTERM, id="SIGTERM-to-the-group"),
        pytest.param(signal.SIGINT, id="Ctrl-C"),
    ],
)
def test_serve_stops_when_its_process_group_is_signalled(
    idle_service: tuple[dict[str, str], Path], signum: int
) -> None:
    env, log_path = idle_service
    process = _start_and_wait_until_idle(env, log_path)
    try:
        os.killpg(process.pid, signum)
        try:
            returncode = process.wait(timeout=HANG_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve hung after {signum!r}:\n{log_path.read_text()}")
        deadline = time.monotonic() + HANG_SECONDS
        while _alive_in_group(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive_in_group(process.pid) == []
    finally:
        if _alive_in_group(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log = log_path.read_text()
    # uvicorn shuts down, then re-raises the signal it caught (the exit status of a shell's
    # Ctrl-C); the worker stopped of its own accord, not terminated or killed.
    assert returncode in (0, -signum, 128 + signum), log
    assert re.search(r"worker INFO fit worker \S+ stopped", log), log
    assert "fit worker process stopped (exit code 0)" in log, log


# --- the worker's stop: what the API process and the signal handlers set ------------------


def _woken(stop: StopSignal, wake: Callable[[], None]) -> bool:
    """What ``stop.wait()``, with no timeout, returns when ``wake`` runs 0.2 s in. A wake
    that does not reach the waiter hangs here, and pytest-timeout fails the test."""
    timer = threading.Timer(0.2, wake)
    timer.start()
    try:
        return stop.wait()
    finally:
        timer.cancel()


@pytest.mark.timeout(HANG_SECONDS)
def test_a_stop_requested_by_a_signal_handler_wakes_the_waiting_worker() -> None:
    stop = WorkerStop()
    previous = signal.signal(signal.SIGUSR1, lambda *_: stop.request())
    try:
        assert _woken(stop, lambda: os.kill(os.getpid(), signal.SIGUSR1))
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert stop.is_set() and stop.wait(0)


@pytest.mark.timeout(HANG_SECONDS)
def test_the_worker_stops_when_the_api_process_closes_its_end_of_the_pipe() -> None:
    reader, writer = Pipe(duplex=False)
    stop = WorkerStop(reader)
    assert not stop.is_set() and not stop.wait(0.01)
    assert _woken(stop, writer.close)
    assert stop.is_set()

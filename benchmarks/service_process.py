"""A real ``helsinki serve`` in a throwaway data folder, for the benchmarks (not a benchmark).

The service runs as a subprocess with its own SQLite file; the PyTensor compile cache is the
checkout's (``var/cache/pytensor``), so a warm cache is reused. Output goes to a log file in
the data folder, whose tail is printed when something goes wrong.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HELSINKI = ROOT / ".venv" / "bin" / "helsinki"
COMPILE_CACHE = ROOT / "var" / "cache" / "pytensor"


class ServiceBlocked(RuntimeError):
    """The service cannot be measured (did not start, or no fit was published)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HELSINKI_DATA_DIR": str(data_dir),
            "HELSINKI_DATABASE_URL": f"sqlite:///{data_dir / 'helsinki.db'}",
            "PYTENSOR_FLAGS": f"base_compiledir={COMPILE_CACHE}",
        }
    )
    return env


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(proc: subprocess.Popen | None, timeout: float = 20.0) -> None:
    """SIGINT (what Ctrl-C does: the worker is stopped too), then SIGTERM, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


def fits_in_database(data_dir: Path) -> list[tuple]:
    """(id, status, reason, seconds) of every fit, oldest first: why no fit is served."""
    try:
        with contextlib.closing(sqlite3.connect(data_dir / "helsinki.db")) as db:
            return db.execute(
                "SELECT id, status, reason, seconds FROM fits ORDER BY started_at"
            ).fetchall()
    except sqlite3.Error:
        return []


def pending_jobs(data_dir: Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(data_dir / "helsinki.db")) as db:
            row = db.execute(
                "SELECT count(*) FROM fit_jobs WHERE status IN ('queued', 'running')"
            ).fetchone()
            return int(row[0])
    except sqlite3.Error:
        return -1


def wait_until_idle(data_dir: Path, timeout: float) -> bool:
    """Wait until no fit job is queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pending_jobs(data_dir) == 0:
            return True
        time.sleep(0.5)
    return False


def create_key(data_dir: Path, role: str, name: str) -> str:
    out = subprocess.run(
        [str(HELSINKI), "keys", "create", "--role", role, "--name", name],
        env=service_env(data_dir),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout.strip().splitlines()[-1].strip()


@contextlib.contextmanager
def running_service(data_dir: Path, fit_timeout: float) -> Iterator[tuple[str, float]]:
    """Start ``helsinki serve``; yield (base URL, seconds until the first fit was served).

    The process is stopped on exit, also on errors and Ctrl-C.
    """
    port = free_port()
    log = data_dir / "serve.log"
    started = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(HELSINKI), "serve", "--port", str(port)],
            env=service_env(data_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + fit_timeout
        fit_id = None
        with httpx.Client(base_url=base, timeout=10) as client:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise ServiceBlocked(
                        f"helsinki serve exited with {proc.returncode}:\n{log_tail(log)}"
                    )
                try:
                    r = client.get("/readyz")
                    if r.status_code == 200 and r.json().get("fit_id"):
                        fit_id = r.json()["fit_id"]
                        break
                except httpx.TransportError:
                    pass
                fits = fits_in_database(data_dir)
                if fits and pending_jobs(data_dir) == 0 and all(f[1] != "published" for f in fits):
                    raise ServiceBlocked(
                        f"no fit was published; fits (id, status, reason, s): {fits}"
                    )
                time.sleep(0.5)
        if fit_id is None:
            raise ServiceBlocked(
                f"no published fit served within {fit_timeout:.0f} s; fits: "
                f"{fits_in_database(data_dir)}\n{log_tail(log)}"
            )
        print(
            f"service on {base} (pid {proc.pid}), serving {fit_id} after "
            f"{time.perf_counter() - started:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        yield base, time.perf_counter() - started
    finally:
        stop(proc)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"

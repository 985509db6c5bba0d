"""gunicorn for the HTTP benchmarks: started on a free port of 127.0.0.1 in its own process group, waited for, and
always stopped (error, Ctrl-C and SIGTERM included)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gunicorn(env: dict[str, str], log: Path, *, workers: int, threads: int = 0) -> Iterator[tuple[int, int]]:
    """``workers`` sync workers, or gthread workers of ``threads`` threads each; yields (port, master pid). The
    settings module comes from ``env`` (``DJANGO_SETTINGS_MODULE``)."""
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    cmd += ["--workers", str(workers), "--timeout", "60", "--log-level", "warning"]
    if threads:
        cmd += ["--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "5"]
    else:
        cmd += ["--worker-class", "sync"]
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start within 60 s") from None
                time.sleep(0.2)
        yield port, proc.pid
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

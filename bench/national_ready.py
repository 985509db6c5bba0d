"""One fresh process until the spatial index answers (bench/national.py, "worker readiness"): prints one JSON line
with the time from the process's start (interpreter start-up included) to its first answer, the time to
``django.setup()``, the time of a cold ``current_index()`` and the resident memory before and
after. Run by bench/national.py with the server's environment; not meant to be run alone."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def since_process_start() -> float:
    """Seconds since the kernel started this process (interpreter start-up included), from /proc."""
    start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> None:
    import django

    django.setup()
    setup_s = time.perf_counter() - STARTED
    rss_before = status_mib("VmRSS")
    from polling.geography import spatial

    started = time.perf_counter()
    index = spatial.current_index()
    index.precinct_at(-90.18, 32.30)  # the first answer
    index_s = time.perf_counter() - started
    ready_s = since_process_start()
    print(
        json.dumps(
            {
                "ready_s": ready_s,
                "setup_s": setup_s,
                "index_s": index_s,
                "rss_before_mib": rss_before,
                "rss_mib": status_mib("VmRSS"),
                "hwm_mib": status_mib("VmHWM"),
                # Not len(index.zones): the index may build its Zone objects only when asked.
                "precincts": len(index),
            }
        ),
        flush=True,
    )
    # Skip tearing down half a gigabyte of objects: the parent times the run, not the exit.
    os._exit(0)


if __name__ == "__main__":
    main()

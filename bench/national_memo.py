#!/usr/bin/env python
"""Where a national lookup's time goes, in process (docs/benchmarks.md, "What held each figure back").

On the national database that bench/national.py loaded (``bench_national``), through Django's test client with
``bench.settings``: the CPU time and SQL queries per ``GET /api/v1/lookup/`` for points asked for the first time
(the answers the index keeps per precinct are not there yet), for the same points asked again, and for
``GET /bench/trivial/``; with ``--profile``, a pyinstrument profile of the first-time lookups (or of compliance with
``--profile compliance``). Prints, asserts nothing.

Usage: ``.venv/bin/python bench/national_memo.py [--points 400] [--profile lookup|compliance]``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bench_national")
    parser.add_argument("--profile", choices=("lookup", "compliance"))
    args = parser.parse_args()
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": args.database_url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1,testserver",
            "HTTPS_ONLY": "0",
            "PUBLIC_RATE_LIMIT": "1000000000/second",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()
    import national
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from polling.geography import spatial

    index = spatial.current_index()
    pts = national.make_points(index, args.points * 5, args.seed)
    inside = [(lo, la) for lo, la in zip(pts.lons, pts.lats, strict=True) if index.precinct_at(lo, la) is not None]
    inside = inside[: args.points]
    client = Client(HTTP_HOST="127.0.0.1")

    def path(kind: str, lon: float, lat: float) -> str:
        if kind == "compliance":
            return f"/api/v1/compliance/?lon={lon!r}&lat={lat!r}&accuracy_m=0"
        return f"/api/v1/lookup/?lon={lon!r}&lat={lat!r}"

    def run(kind: str, points: list[tuple[float, float]], label: str) -> None:
        with CaptureQueriesContext(connection) as queries:
            started = time.process_time()
            for lon, lat in points:
                client.get(path(kind, lon, lat))
            cpu_us = (time.process_time() - started) / len(points) * 1e6
        print(f"{label}: {cpu_us:,.0f} us CPU per request, {len(queries) / len(points):.2f} SQL queries per request")

    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
        run(args.profile, inside, f"{args.profile}, points asked for the first time (profiled)")
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False))
        return
    run("lookup", inside, f"lookup, {len(inside)} points asked for the first time")
    run("lookup", inside, "lookup, the same points again")
    run("compliance", inside, "compliance, the same points")
    for _ in range(100):
        client.get("/bench/trivial/")
    started = time.process_time()
    for _ in range(len(inside)):
        client.get("/bench/trivial/")
    print(f"trivial: {(time.process_time() - started) / len(inside) * 1e6:,.0f} us CPU per request")


if __name__ == "__main__":
    main()

"""What the security measures cost the public lookup: the same gunicorn and the same lookups with the product's
settings (health, intrusion prevention, geographic exclusion with the real IP-country database, replica routing —
all on) and without their middleware (bench/settings_unguarded.py), in interleaved rounds; prints the server CPU per
request (robust to load from elsewhere) and the throughput, median of the rounds. Asserts nothing.

    .venv/bin/python bench/guard_overhead.py [--rounds 5] [--requests 3000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import lookup as b
from bench.serve import gunicorn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pollguard-guard-bench-"))
    try:
        b.configure_django(tmp)
        b.load_demo_in_process()
        geoip = b.ROOT / "var" / "geoip"
        if geoip.is_dir():  # the real database, so the staff-path decisions are real (public paths never read it)
            shutil.copytree(geoip, tmp / "geoip")
        from polling.geography import spatial
        from polling.geography.services import geography_version

        index = spatial.build_index(geography_version())
        pts = b.make_points(index, 2000, b.SEED)
        precincts = [index.precinct_at(lon, lat) for lon, lat in zip(pts.lons, pts.lats, strict=True)]
        lookup, _ = b.http_paths(pts, precincts)
        sides = {
            "measures on": "config.settings",
            "without them": "bench.settings_unguarded",
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for rnd in range(args.rounds):
            for name, module in sides.items():
                env = b.server_env(tmp, None) | {"DJANGO_SETTINGS_MODULE": module, "GEO_EXCLUSION": "1"}
                with gunicorn(env, tmp / f"{rnd}-{name}.log", workers=args.workers) as (port, master):
                    b.load(port, lookup[:200], requests=200, seconds=60, concurrency=args.concurrency)
                    pids = b.process_tree(master)
                    cpu = b.cpu_seconds(pids)
                    rps, lat, statuses = b.load(
                        port, lookup, requests=args.requests, seconds=60, concurrency=args.concurrency
                    )
                    us = (b.cpu_seconds(pids) - cpu) / max(len(lat), 1) * 1e6
                    assert set(statuses) == {200}, statuses
                    results[name].append((us, rps))
                    print(f"round {rnd + 1} {name:<13} server CPU {us:6.0f} us/request, {rps:6.0f} req/s")
        print()
        for name, rows in results.items():
            print(
                f"{name:<13} median server CPU {statistics.median(r[0] for r in rows):6.0f} us/request, "
                f"median {statistics.median(r[1] for r in rows):6.0f} req/s over {len(rows)} rounds"
            )
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        time.sleep(0)


if __name__ == "__main__":
    raise SystemExit(main())

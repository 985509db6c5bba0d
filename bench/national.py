#!/usr/bin/env python
"""National-scale benchmark of the public lookups (issue 13): prints figures, asserts nothing (docs/benchmarks.md).

1. Data: the real Census counties (all 3,233) split into ~178,000 synthetic precincts, ~130,000 polling places with
   1-3 entrances each, fixed seed (bench/national_data.py), cached in var/bench/.
2. Loaded into the product's schema on PostgreSQL (``bench_national``) and into PostGIS (``bench_national_postgis``)
   (bench/national_load.py).
3. In process against PostGIS on the same polygons and points: ``precinct_at`` against ``ST_Covers`` (GiST),
   ``zones_near`` against ``geography`` ``ST_DWithin``, answers compared point by point; lookup cost at 1,000,
   10,000, 50,000 and all precincts, charted to docs/benchmarks-scaling.png.
4. Worker readiness: a fresh process until ``current_index()`` answers, and its resident memory.
5. HTTP with ``wrk``, client and server pinned to separate cores (bench/national_http.py): lookup and compliance
   against a trivial JSON endpoint on the same server, and against a GeoDjango + PostGIS lookup (bench/geodjango/).

Usage: ``.venv/bin/python bench/national.py [--precincts 20000] [--skip-http] ...`` (``--help``). Never collected
by pytest (``testpaths = ["tests"]``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lookup as mississippi  # bench/lookup.py: timing and /proc helpers shared with the Mississippi benchmark
import national_data
import national_load
from lookup import Figure, fmt_num, section, timed

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/bench_national"
DEFAULT_POSTGIS_URL = "postgres://postgres@127.0.0.1:5432/bench_national_postgis"
DEFAULT_CHART = ROOT / "docs" / "benchmarks-scaling.png"
SEED = 20_240_601
NEAR_FRACTION, IN_PRECINCT_FRACTION = 0.30, 0.60
NEAR_M = 100.0
#: The contiguous states' box: the last share of the points lands anywhere in it, sea and Canada included.
CONUS = (-125.0, 24.0, -66.0, 50.0)
SCALING_SIZES = (1_000, 10_000, 50_000)

FIGURES: list[Figure] = []
RESULTS: dict[str, Any] = {}


# --------------------------------------------------------------------------------------------------- setup


def configure_django(database_url: str) -> None:
    """Production settings plus the baseline app (``bench.settings``) on the national PostgreSQL database."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": database_url,
            "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "HTTPS_ONLY": "0",
            # Per second, not per minute: DRF's throttle keeps (and pickles) every request time of its window.
            "PUBLIC_RATE_LIMIT": "1000000000/second",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


@dataclass
class Points:
    lons: list[float]
    lats: list[float]
    near: list[bool]


def make_points(index: Any, n: int, seed: int) -> Points:
    """NEAR_FRACTION within NEAR_M of a random entrance, IN_PRECINCT_FRACTION uniform in the bounding box of a random
    precinct (most inside it or a neighbour), the rest uniform in CONUS. Fixed seed, shuffled."""
    import numpy as np
    import pyproj
    import shapely

    rng = np.random.default_rng(seed)
    entrances = mississippi.entrance_coords(index)
    n_near, n_in = round(n * NEAR_FRACTION), round(n * IN_PRECINCT_FRACTION)
    pick = rng.integers(len(entrances), size=n_near)
    az, dist = rng.uniform(-180.0, 180.0, n_near), NEAR_M * np.sqrt(rng.uniform(0.0, 1.0, n_near))
    near_lon, near_lat, _ = pyproj.Geod(ellps="WGS84").fwd(entrances[pick, 0], entrances[pick, 1], az, dist)
    in_lon, in_lat = in_bounding_boxes(shapely.bounds(index._boundaries), n_in, rng)
    west, south, east, north = CONUS
    far = n - n_near - n_in
    lon = np.concatenate([np.asarray(near_lon), in_lon, rng.uniform(west, east, far)])
    lat = np.concatenate([np.asarray(near_lat), in_lat, rng.uniform(south, north, far)])
    near = np.concatenate([np.ones(n_near, dtype=bool), np.zeros(n - n_near, dtype=bool)])
    order = rng.permutation(n)
    return Points(lon[order].tolist(), lat[order].tolist(), near[order].tolist())


def in_bounding_boxes(bounds: Any, n: int, rng: Any) -> tuple[Any, Any]:
    """``n`` points, each uniform in the box of a random row of ``bounds`` (west, south, east, north)."""
    rows = bounds[rng.integers(len(bounds), size=n)]
    u, v = rng.uniform(0.0, 1.0, n), rng.uniform(0.0, 1.0, n)
    return rows[:, 0] + u * (rows[:, 2] - rows[:, 0]), rows[:, 1] + v * (rows[:, 3] - rows[:, 1])


def show(label: str, fig: Figure) -> None:
    print(f"{label + ':':<14} {fmt_num(fig.ops)} ops/s, p50 {fig.p50_us:.1f} us, p99 {fig.p99_us:.1f} us  ({fig.note})")


# --------------------------------------------------------------------------------------------------- in process


def zone_answers(hits: list[Any]) -> dict[tuple[int, str], float]:
    return {(h.zone.polling_place_id, str(h.zone.rule.activity)): h.classification.distance_m for h in hits}


def bench_in_process(index: Any, pts: Points) -> tuple[list[Any], list[Any]]:
    from functools import partial

    section(f"In process: {len(index.precincts):,} precincts, {len(index.zones):,} zones, {len(pts.lons):,} points")
    fig, precincts = timed(index.precinct_at, pts.lons, pts.lats)
    fig.operation, fig.engine = "precinct lookup", "in-process index"
    fig.note = f"{sum(p is not None for p in precincts) / len(precincts):.0%} of points in a precinct"
    FIGURES.append(fig)
    show("precinct_at", fig)
    fig, hits = timed(partial(index.zones_near, accuracy_m=0.0), pts.lons, pts.lats)
    fig.operation, fig.engine = "zone check", "in-process index"
    fig.note = f"{sum(bool(h) for h in hits) / len(hits):.0%} of points with a zone in reach"
    FIGURES.append(fig)
    show("zones_near", fig)
    return precincts, hits


# --------------------------------------------------------------------------------------------------- PostGIS

PG_PRECINCT = (
    "SELECT id FROM {table} WHERE ST_Covers(boundary, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) "
    'ORDER BY county_fips COLLATE "C", code COLLATE "C" LIMIT 1'
)
# The constant reach (the widest limit + 100 m) lets the GiST index find candidates; each zone's own reach decides.
PG_ZONES = (
    "SELECT polling_place_id, activity, ST_Distance(z.ref, q.g) FROM bench_zone z, "
    "(SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography AS g) q "
    "WHERE ST_DWithin(z.ref, q.g, %s) AND ST_DWithin(z.ref, q.g, z.reach_m)"
)


def bench_postgis(url: str, index: Any, pts: Points, precincts: list[Any], hits: list[Any], seed: int) -> str:
    import numpy as np
    import psycopg
    import shapely

    from polling.geography.spatial import REACH_BEYOND_LIMIT_M

    section(f"PostGIS: {url}")
    version, summary = national_load.load_postgis(url, index)
    print(summary)
    print(version)
    reach = index.max_limit_m + REACH_BEYOND_LIMIT_M
    precinct_sql = PG_PRECINCT.format(table="bench_precinct")
    with psycopg.connect(url, autocommit=True) as conn:
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + precinct_sql, (pts.lons[0], pts.lats[0])).fetchall())
        zplan = "\n".join(
            r[0] for r in conn.execute("EXPLAIN " + PG_ZONES, (pts.lons[0], pts.lats[0], reach)).fetchall()
        )
        print("plans use the GiST indexes:", "bench_precinct_boundary_gist" in plan, "bench_zone_ref_gist" in zplan)
        cur = conn.cursor()

        def pg_precinct(lon: float, lat: float) -> int | None:
            row = cur.execute(precinct_sql, (lon, lat), prepare=True).fetchone()
            return row[0] if row else None

        def pg_zones(lon: float, lat: float) -> dict[tuple[int, str], float]:
            return {(p, a): d for p, a, d in cur.execute(PG_ZONES, (lon, lat, reach), prepare=True).fetchall()}

        fig, pg_precincts = timed(pg_precinct, pts.lons, pts.lats)
        fig.operation, fig.engine, fig.note = "precinct lookup", "PostGIS ST_Covers", "1 prepared query per point"
        FIGURES.append(fig)
        show("ST_Covers", fig)
        fig, pg_hits = timed(pg_zones, pts.lons, pts.lats)
        fig.operation, fig.engine, fig.note = "zone check", "PostGIS ST_DWithin", "geography, 1 query per point"
        FIGURES.append(fig)
        show("ST_DWithin", fig)

        ours = [p.id if p else None for p in precincts]
        disagree = [i for i, (a, b) in enumerate(zip(ours, pg_precincts, strict=True)) if a != b]
        outside = sum(a is None and b is None for a, b in zip(ours, pg_precincts, strict=True))
        RESULTS["precinct_disagreements"] = len(disagree)
        print(
            f"precinct agreement: {len(ours) - len(disagree):,} of {len(ours):,} points "
            f"({len(ours) - len(disagree) - outside:,} same precinct, {outside:,} outside every precinct in both); "
            f"{len(disagree)} disagreements"
        )
        for i in disagree[:5]:
            print("  ", mississippi.diagnose_precinct(index, pts.lons[i], pts.lats[i], precincts[i], pg_precincts[i]))

        # Points exactly on precinct vertices: on shared edges the tie-break (county FIPS, code) decides.
        rng = np.random.default_rng(seed + 1)
        sample_of = rng.choice(len(index._boundaries), size=min(2000, len(index._boundaries)), replace=False)
        v_disagree, shared = [], 0
        for i in sample_of:
            coords = shapely.get_coordinates(index._boundaries[i])
            lon, lat = (float(v) for v in coords[rng.integers(len(coords))])
            mine = index.precinct_at(lon, lat)
            shared += len(index._precinct_tree.query(shapely.Point(lon, lat), predicate="covered_by")) > 1
            theirs = pg_precinct(lon, lat)
            if (mine.id if mine else None) != theirs:
                v_disagree.append((lon, lat, mine, theirs))
        RESULTS["vertex_disagreements"] = len(v_disagree)
        print(
            f"on-vertex agreement: {len(sample_of) - len(v_disagree):,} of {len(sample_of):,} precinct vertices "
            f"({shared:,} shared by 2+ precincts); {len(v_disagree)} disagreements"
        )
        for lon, lat, mine, theirs in v_disagree[:5]:
            print("  ", mississippi.diagnose_precinct(index, lon, lat, mine, theirs))

        set_disagree, diffs_mm, examples = 0, [], []
        worst: tuple[float, int, tuple[int, str], float, float] | None = None
        for i, (h, pg) in enumerate(zip(hits, pg_hits, strict=True)):
            mine_z = zone_answers(h)
            if set(mine_z) != set(pg):
                set_disagree += 1
                if len(examples) < 5:
                    examples.append((i, sorted(set(mine_z) ^ set(pg))))
            for k in set(mine_z) & set(pg):
                diffs_mm.append(abs(mine_z[k] - pg[k]) * 1000.0)
                if worst is None or diffs_mm[-1] > worst[0]:
                    worst = (diffs_mm[-1], i, k, mine_z[k], pg[k])
        RESULTS["zone_disagreements"] = set_disagree
        d = np.asarray(diffs_mm) if diffs_mm else np.zeros(1)
        print(
            f"zone agreement: the zones within reach (limit + {REACH_BEYOND_LIMIT_M:.0f} m) identical for "
            f"{len(hits) - set_disagree:,} of {len(hits):,} points; {set_disagree} disagreements; "
            f"{len(diffs_mm):,} distances compared, |ours - ST_Distance(geography)| max {d.max():.3g} mm, "
            f"p50 {np.percentile(d, 50):.3g} mm"
        )
        for i, keys in examples:
            print(f"   point {i} ({pts.lons[i]!r}, {pts.lats[i]!r}): zones {keys} in one engine only")
        if worst is not None and worst[0] > 0.001:
            explain_distance(cur, pts, *worst[1:])
        cur.close()
    return str(version)


PG_PER_REFERENCE_POINT = (
    "SELECT ST_Distance(d.geom::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography) "
    "FROM bench_zone z, ST_DumpPoints(z.ref::geometry) d WHERE z.polling_place_id = %s AND z.activity = %s ORDER BY 1"
)


def explain_distance(cur: Any, pts: Points, i: int, key: tuple[int, str], ours: float, theirs: float) -> None:
    """The largest distance difference, with PostGIS's distance to each point of the zone's reference separately
    (a multi-point reference's nearest point on the sphere need not be its nearest on the spheroid)."""
    each = [r[0] for r in cur.execute(PG_PER_REFERENCE_POINT, (pts.lons[i], pts.lats[i], *key)).fetchall()]
    print(
        f"   largest difference: point {i} ({pts.lons[i]!r}, {pts.lats[i]!r}), zone {key}: ours {ours:.6f} m, "
        f"PostGIS {theirs:.6f} m; PostGIS to each of the reference's {len(each)} points separately: "
        + ", ".join(f"{d:.6f}" for d in each)
        + " m"
    )


# --------------------------------------------------------------------------------------------------- scaling


def bench_scaling(index: Any, n_points: int, seed: int, postgis_url: str | None, chart: Path | None) -> None:
    """Lookup cost over subsets of whole counties (shuffled, fixed seed) of 1,000 / 10,000 / 50,000 / all
    precincts; each size queried with its own points (uniform in the box of a random precinct of the subset).
    Interleaved rounds (sizes in turn), fastest round of each kept."""
    import numpy as np
    import shapely

    from polling.geography.spatial import GeographyIndex

    sizes = [s for s in SCALING_SIZES if s < len(index.precincts)] + [len(index.precincts)]
    section(f"Lookup cost against data size: {', '.join(f'{s:,}' for s in sizes)} precincts")
    rng = np.random.default_rng(seed + 2)
    fips = sorted({p.county_fips for p in index.precincts})
    rank = {f: r for r, f in enumerate(rng.permutation(fips))}
    order = sorted(range(len(index.precincts)), key=lambda i: (rank[index.precincts[i].county_fips], i))
    bounds = shapely.bounds(index._boundaries)
    subsets = []
    for size in sizes:
        chosen = order[:size]
        started = time.perf_counter()
        sub = GeographyIndex(
            version=0,
            precincts=[index.precincts[i] for i in chosen],
            boundaries=[index._boundaries[i] for i in chosen],
            zones=[],
            place_names={},
            max_limit_m=0.0,
        )
        build_s = time.perf_counter() - started
        lons, lats = in_bounding_boxes(bounds[chosen], n_points, rng)
        subsets.append((size, sub, lons.tolist(), lats.tolist(), build_s, [index.precincts[i].id for i in chosen]))
    ours: dict[int, list[Figure]] = {s: [] for s in sizes}
    for _ in range(mississippi.REPEAT):
        for size, sub, lons, lats, _b, _ids in subsets:
            fig, _ = timed(sub.precinct_at, lons, lats, repeat=1)
            ours[size].append(fig)
    theirs: dict[int, Figure] = {}
    if postgis_url:
        import psycopg

        with psycopg.connect(postgis_url) as conn:
            tables = {
                size: national_load.postgis_subset(conn, ids, size)
                if size != len(index.precincts)
                else "bench_precinct"
                for size, _s, _lo, _la, _b, ids in subsets
            }
            conn.autocommit = True
            cur = conn.cursor()
            pg_runs: dict[int, list[Figure]] = {s: [] for s in sizes}
            for _ in range(mississippi.REPEAT):
                for size, _sub, lons, lats, _b, _ids in subsets:
                    query = PG_PRECINCT.format(table=tables[size])

                    def pg(lon: float, lat: float, query: str = query) -> Any:
                        return cur.execute(query, (lon, lat), prepare=True).fetchone()

                    fig, _ = timed(pg, lons, lats, repeat=1)
                    pg_runs[size].append(fig)
            theirs = {s: max(f, key=lambda f: f.ops) for s, f in pg_runs.items()}
    print(
        f"{'precincts':>10} {'build s':>8} | {'ours ops/s':>11} {'p50 us':>7} {'p99 us':>7} {'vs 1,000':>8}"
        + (f" | {'PostGIS ops/s':>13} {'p50 us':>7} {'vs 1,000':>8} {'ours/PostGIS':>12}" if theirs else "")
    )
    series = []
    base = max(ours[sizes[0]], key=lambda f: f.ops)
    pg_base = theirs.get(sizes[0])
    for size, _sub, _lo, _la, build_s, _ids in subsets:
        best = max(ours[size], key=lambda f: f.ops)
        line = (
            f"{size:>10,} {build_s:>8.2f} | {fmt_num(best.ops):>11} {best.p50_us:>7.1f} {best.p99_us:>7.1f} "
            f"{best.p50_us / base.p50_us:>7.2f}x"
        )
        if theirs:
            pg_fig = theirs[size]
            line += (
                f" | {fmt_num(pg_fig.ops):>13} {pg_fig.p50_us:>7.1f} {pg_fig.p50_us / pg_base.p50_us:>7.2f}x "  # type: ignore[union-attr]
                f"{best.ops / pg_fig.ops:>11.1f}x"
            )
        print(line)
        series.append((size, best, theirs.get(size)))
    RESULTS["scaling"] = [(s, b.p50_us, b.ops, p.p50_us if p else None, p.ops if p else None) for s, b, p in series]
    print(
        f"(vs 1,000: median cost per lookup relative to the {sizes[0]:,}-precinct subset; fastest of "
        f"{mississippi.REPEAT} interleaved rounds of {n_points:,} points per size)"
    )
    if chart is not None:
        draw_chart(series, chart)


def draw_chart(series: list[tuple[int, Figure, Figure | None]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    sizes = [s for s, _o, _p in series]
    ax.plot(sizes, [o.p50_us for _s, o, _p in series], "o-", label="in-process index, precinct_at (p50)")
    ax.plot(sizes, [o.p99_us for _s, o, _p in series], "o--", alpha=0.6, label="in-process index (p99)")
    if all(p is not None for _s, _o, p in series):
        ax.plot(sizes, [p.p50_us for _s, _o, p in series], "s-", label="PostGIS ST_Covers + GiST via psycopg (p50)")  # type: ignore[union-attr]
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=()))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.set_xlabel("precincts in the index (subsets of whole counties)")
    ax.set_ylabel("time per lookup, microseconds")
    ax.set_title("Precinct lookup cost against data size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"chart written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


# --------------------------------------------------------------------------------------------------- readiness


def bench_ready(env: dict[str, str], rounds: int) -> None:
    """A fresh interpreter, until ``current_index()`` has answered a lookup (bench/national_ready.py), ``rounds``
    times; the median of each phase."""
    section(f"Worker readiness: a fresh process until current_index() answers ({rounds} runs, median)")
    runs = []
    for _ in range(rounds):
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(ROOT / "bench" / "national_ready.py")],
            cwd=ROOT,
            env=env,
            check=False,
            capture_output=True,
            text=True,
        )
        total = time.perf_counter() - started
        if done.returncode != 0:
            print(f"the fresh process failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
            return
        run = json.loads(done.stdout.strip().splitlines()[-1])
        run["total_s"] = total
        runs.append(run)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if isinstance(runs[0][k], int | float)}
    RESULTS["ready"] = med
    print(
        f"interpreter start + django.setup(): {med['setup_s']:.2f} s; current_index() cold: {med['index_s']:.2f} s "
        f"({runs[0]['precincts']:,} precincts); first answer {med['ready_s']:.2f} s "
        f"after the process started"
    )
    print(
        f"resident memory once ready: RSS {med['rss_mib']:.0f} MiB (peak {med['hwm_mib']:.0f} MiB); "
        f"before the index: {med['rss_before_mib']:.0f} MiB"
    )
    each = ", ".join(f"{r['ready_s']:.2f} s / {r['rss_mib']:.0f} MiB" for r in runs)
    print(f"(each run: {each})")


# --------------------------------------------------------------------------------------------------- summary


def print_summary(facts: list[str]) -> None:
    section("Summary")
    print(f"{'operation':<18} {'engine':<22} {'ops/s':>10} {'p50 us':>9} {'p99 us':>9}  note")
    for f in FIGURES:
        print(
            f"{f.operation:<18} {f.engine:<22} {fmt_num(f.ops):>10} {fmt_num(f.p50_us, 1):>9} "
            f"{fmt_num(f.p99_us, 1):>9}  {f.note}"
        )
    by = {(f.operation, f.engine): f for f in FIGURES}
    print("\nRatios (targets from issue 13):")
    pairs = [
        (
            "in-process lookup / PostGIS ST_Covers",
            ("precinct lookup", "in-process index"),
            ("precinct lookup", "PostGIS ST_Covers"),
            10.0,
        ),
        (
            "in-process zone check / PostGIS ST_DWithin",
            ("zone check", "in-process index"),
            ("zone check", "PostGIS ST_DWithin"),
            5.0,
        ),
    ]
    for label, a, b, target in pairs:
        if a in by and b in by:
            ratio_p50 = (by[b].p50_us or 0) / (by[a].p50_us or 1)
            print(
                f"  {label:<48} {by[a].ops / by[b].ops:6.2f}x  (target >= {target:g}x; ops/s; by p50 {ratio_p50:.1f}x)"
            )
    if "scaling" in RESULTS:
        first, last = RESULTS["scaling"][0], RESULTS["scaling"][-1]
        label = f"lookup cost {first[0]:,} -> {last[0]:,} precincts (p50)"
        print(f"  {label:<48} {last[1] / first[1]:6.2f}x  (target <= 2x)")
    if "ready" in RESULTS:
        r = RESULTS["ready"]
        print(f"  {'worker ready (fresh process, current_index())':<48} {r['ready_s']:6.2f} s  (target <= 2 s)")
        print(f"  {'worker resident memory once ready':<48} {r['rss_mib']:6.0f} MiB (target <= 400 MiB)")
    for line in RESULTS.get("http_ratios", []):
        print("  " + line)
    print()
    for line in facts:
        print(line)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--precincts",
        type=int,
        default=national_data.NATIONAL_PRECINCTS,
        help="precincts in all (default 178,000; polling places in proportion, 130,000 for 178,000)",
    )
    parser.add_argument("--points", type=int, default=20_000, help="query points (default 20,000)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs of each in-process/PostGIS figure (best kept)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_NATIONAL_DATABASE_URL", DEFAULT_DB_URL),
        help=f"product database, dropped and recreated unless it holds this data set (default {DEFAULT_DB_URL})",
    )
    parser.add_argument(
        "--postgis-url",
        default=os.environ.get("BENCH_NATIONAL_POSTGIS_URL", DEFAULT_POSTGIS_URL),
        help=f"PostGIS database; its bench_* tables are recreated (default {DEFAULT_POSTGIS_URL})",
    )
    parser.add_argument("--chart", type=Path, default=DEFAULT_CHART, help="PNG of cost against size ('' for none)")
    parser.add_argument("--skip-postgis", action="store_true", help="no PostGIS comparison (and no GeoDjango)")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--skip-ready", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-geodjango", action="store_true")
    parser.add_argument("--ready-runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="HTTP rounds; medians reported (default 3)")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per endpoint and round (default 10)")
    parser.add_argument("--server-cpus", default="0", help="taskset CPU list of the servers (default 0)")
    parser.add_argument("--client-cpus", default="1", help="taskset CPU list of wrk (default 1)")
    args = parser.parse_args(argv)
    mississippi.REPEAT = args.repeat
    wall = time.perf_counter()
    print(f"pollguard national benchmark: seed {args.seed}, {args.precincts:,} precincts, {args.points:,} points")
    print(f"load average at the start {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    section("Data set")
    data = national_data.load_dataset(args.seed, args.precincts)
    for note in data.notes:
        print(note)
    print(
        f"{len(data.counties):,} counties (Census 2016, 1:500k), {len(data.precincts):,} precincts, "
        f"{len(data.places):,} polling places, {sum(len(p.entrances) for p in data.places):,} entrances"
    )
    configure_django(args.database_url)
    print(f"product database {args.database_url}: {national_load.load_product(data, args.database_url)}")

    from polling.geography import spatial
    from polling.geography.services import geography_version

    version = geography_version()
    started = time.perf_counter()
    index = spatial.build_index(version)
    print(
        f"build_index(): {time.perf_counter() - started:.2f} s in this process "
        f"({len(index):,} precincts, {len(index.zones):,} zones)"
    )
    del data  # the rest works from the database and the index

    pts = make_points(index, args.points, args.seed)
    precincts, hits = bench_in_process(index, pts)
    postgis_version = None
    if not args.skip_postgis:
        postgis_version = bench_postgis(args.postgis_url, index, pts, precincts, hits, args.seed)
    if not args.skip_scaling:
        bench_scaling(
            index,
            min(args.points, 10_000),
            args.seed,
            None if args.skip_postgis else args.postgis_url,
            args.chart if str(args.chart) else None,
        )
    server_env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    server_env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    if not args.skip_ready:
        bench_ready(server_env, args.ready_runs)
    if not args.skip_http:
        import national_http

        RESULTS["http_ratios"] = national_http.bench_http(
            args, server_env, pts, precincts, None if (args.skip_geodjango or args.skip_postgis) else args.postgis_url
        )
    print_summary(mississippi.machine_facts(postgis_version, mississippi.pg_server_version(args.database_url)))
    print(f"load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"total wall time {time.perf_counter() - wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

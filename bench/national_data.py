"""The national data set of bench/national.py, built at bench time from the real Census counties (fixed seed).

Counties are real: all 3,233 of the Census 2016 cartographic boundary file (1:500k) that PyPI's ``plotly-geo``
1.0.0 ships. Precincts, polling places and entrances are synthetic: each county is split into Voronoi cells of
random points drawn inside it, clipped to the county; a polling place sits on the seed of its precinct's cell;
its 1-3 entrances lie 10-40 m from it. The number of precincts of a county is 1 plus a share of the rest
proportional to the square root of its land area (a crude population proxy: a pure area share would give Alaska's
boroughs thousands of precincts and Manhattan one).

plotly-geo and matplotlib are never installed in the project's locked venv: ``ensure_bench_deps`` installs them
with the venv's pip into ``var/bench-deps`` (``pip install --target``) once, and *appends* that folder to
``sys.path`` so that the venv's own packages (numpy above all) always win. The generated set is cached in
``var/bench/`` under a name made of the seed and the sizes, so only the first run pays for the split.
"""

from __future__ import annotations

import gzip
import math
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
DEPS_DIR = ROOT / "var" / "bench-deps"
CACHE_DIR = ROOT / "var" / "bench"
DEPS = ("plotly-geo==1.0.0", "matplotlib")
COUNTY_FILE = "_plotly_geo/package_data/cb_2016_us_county_500k.shp"
#: The United States, per issue 13: ~178,000 precincts and ~130,000 polling places.
NATIONAL_PRECINCTS = 178_000
NATIONAL_PLACES = 130_000
FORMAT = 2  # bump when the generated set changes shape, so old caches are ignored


def ensure_bench_deps() -> Path:
    """Install plotly-geo and matplotlib into var/bench-deps (once) and put that folder at the *end* of sys.path."""
    if not (DEPS_DIR / COUNTY_FILE).exists() or not (DEPS_DIR / "matplotlib").is_dir():
        DEPS_DIR.mkdir(parents=True, exist_ok=True)
        print(f"installing {', '.join(DEPS)} into {DEPS_DIR} (not the project's venv)", flush=True)
        subprocess.run(  # noqa: S603 - our own interpreter's pip, fixed arguments
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(DEPS_DIR), *DEPS], check=True
        )
    if str(DEPS_DIR) not in sys.path:
        sys.path.append(str(DEPS_DIR))
    return DEPS_DIR / COUNTY_FILE


@dataclass
class County:
    fips: str
    state_fips: str
    name: str
    aland: float
    boundary: shapely.Geometry


@dataclass
class Place:
    county_fips: str
    code: str
    name: str
    lon: float
    lat: float
    entrances: list[tuple[float, float]]


@dataclass
class Dataset:
    seed: int
    counties: list[County]
    #: (county FIPS, code, name, boundary); codes are zero-padded so string order is numeric order.
    precincts: list[tuple[str, str, str, shapely.Geometry]]
    places: list[Place]
    #: Per precinct (same order), the index in ``places`` of the polling place serving it.
    assignment: list[int]
    build_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def read_counties(path: Path) -> list[County]:
    from pyogrio.raw import read

    _meta, _fids, wkb, fields = read(path)
    names = list(_meta["fields"])
    col = {n: fields[i] for i, n in enumerate(names)}
    geoms = shapely.from_wkb(wkb)
    counties = []
    for i, geom in enumerate(geoms):
        if not shapely.is_valid(geom):
            geom = shapely.make_valid(geom)
        counties.append(
            County(str(col["GEOID"][i]), str(col["STATEFP"][i]), str(col["NAME"][i]), float(col["ALAND"][i]), geom)
        )
    counties.sort(key=lambda c: c.fips)
    return counties


def allocate(weights: np.ndarray, total: int) -> np.ndarray:
    """1 each, plus ``total - len(weights)`` shared in proportion to ``weights`` (largest remainder)."""
    rest = total - len(weights)
    if rest <= 0:
        return np.ones(len(weights), dtype=np.int64)
    share = weights / weights.sum() * rest
    counts = np.floor(share).astype(np.int64)
    short = rest - int(counts.sum())
    counts[np.argsort(-(share - counts), kind="stable")[:short]] += 1
    return counts + 1


def points_inside(geom: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct points uniformly distributed inside ``geom``: shared among its parts by area, then rejection
    sampling in each part's own bounding box (a county of scattered islands has a huge box but small parts)."""
    parts = shapely.get_parts(geom)
    areas = shapely.area(parts)
    share = np.bincount(rng.choice(len(parts), size=n, p=areas / areas.sum()), minlength=len(parts))
    found = []
    for part, k in zip(parts, share, strict=True):
        if k == 0:
            continue
        west, south, east, north = part.bounds
        shapely.prepare(part)
        got: list[np.ndarray] = []
        have = 0
        for _ in range(1000):
            batch = max(64, 4 * (k - have))
            xy = np.column_stack([rng.uniform(west, east, batch), rng.uniform(south, north, batch)])
            xy = xy[shapely.contains_xy(part, xy[:, 0], xy[:, 1])]
            got.append(xy)
            have += len(xy)
            if have >= k:
                break
        found.append(np.concatenate(got)[:k])
    # Distinct seeds (Voronoi needs them); a repeat is next to impossible with doubles, but cheap to rule out.
    xy = np.unique(np.concatenate(found), axis=0)
    return xy[rng.permutation(len(xy))]


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    """The polygonal part of an intersection result (dropping the lines and points of touching edges)."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    if not polys:
        return None
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def split_county(county: County, n: int, rng: np.random.Generator) -> tuple[list[shapely.Geometry], np.ndarray]:
    """``n`` Voronoi cells of random points inside the county, clipped to it, with each cell's seed point."""
    seeds = points_inside(county.boundary, n, rng)
    if len(seeds) == 1:
        return [county.boundary], seeds
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=county.boundary, ordered=True)
    )
    inside = shapely.contains(county.boundary, cells)
    clipped = np.array(cells, dtype=object)
    todo = np.flatnonzero(~inside)
    if len(todo):
        clipped[todo] = shapely.intersection(cells[todo], county.boundary)
    out, kept = [], []
    for i, cell in enumerate(clipped):
        poly = _polygonal(cell)
        if poly is not None and shapely.is_valid(poly) and poly.area > 0:
            out.append(poly)
            kept.append(i)
    return out, seeds[kept]


def entrances_around(lon: float, lat: float, rng: np.random.Generator, geod: object) -> list[tuple[float, float]]:
    k = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
    az = rng.uniform(-180.0, 180.0, k)
    dist = rng.uniform(10.0, 40.0, k)
    lons, lats, _ = geod.fwd(np.full(k, lon), np.full(k, lat), az, dist)  # type: ignore[attr-defined]
    return list(zip(np.asarray(lons).tolist(), np.asarray(lats).tolist(), strict=True))


def generate(seed: int, n_precincts: int, n_places: int, county_file: Path) -> Dataset:
    import pyproj

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    geod = pyproj.Geod(ellps="WGS84")
    counties = read_counties(county_file)
    weights = np.sqrt(np.maximum([c.aland for c in counties], 1e6))
    counts = allocate(weights, n_precincts)
    precincts: list[tuple[str, str, str, shapely.Geometry]] = []
    seed_xy: list[np.ndarray] = []
    owner: list[int] = []  # county index of each precinct
    for ci, (county, n) in enumerate(zip(counties, counts, strict=True)):
        cells, seeds = split_county(county, int(n), rng)
        for k, cell in enumerate(cells, start=1):
            precincts.append((county.fips, f"P{k:05d}", f"{county.name} precinct {k}", cell))
        seed_xy.append(seeds)
        owner += [ci] * len(cells)
        if ci % 500 == 0:
            print(f"  split {ci:,} of {len(counties):,} counties, {len(precincts):,} precincts", flush=True)
    xy = np.concatenate(seed_xy)
    owner_arr = np.asarray(owner)
    # Polling places: one in every county's first precinct, the rest in precincts drawn at random.
    first = np.flatnonzero(np.r_[True, owner_arr[1:] != owner_arr[:-1]])
    others = np.setdiff1d(np.arange(len(precincts)), first)
    n_extra = max(0, min(n_places - len(first), len(others)))
    hosts = np.sort(np.concatenate([first, rng.choice(others, size=n_extra, replace=False)]))
    places = []
    place_of_host = {}
    for j, h in enumerate(hosts):
        fips, code, name, _ = precincts[h]
        lon, lat = float(xy[h, 0]), float(xy[h, 1])
        place_of_host[int(h)] = j
        places.append(Place(fips, code, f"Polling place {name}", lon, lat, entrances_around(lon, lat, rng, geod)))
    # Every precinct is served by the nearest polling place of its county (its own when it hosts one).
    assignment = [-1] * len(precincts)
    # Precincts (and so hosts) are in county order: each county's are one slice.
    bounds = np.searchsorted(owner_arr, np.arange(len(counties) + 1))
    hbounds = np.searchsorted(owner_arr[hosts], np.arange(len(counties) + 1))
    for ci in range(len(counties)):
        members = np.arange(bounds[ci], bounds[ci + 1])
        hs = np.arange(hbounds[ci], hbounds[ci + 1])
        if len(members) == 0:
            continue
        tree = shapely.STRtree(shapely.points(xy[hosts[hs]]))
        nearest = tree.nearest(shapely.points(xy[members]))
        for m, k in zip(members, nearest, strict=True):
            assignment[int(m)] = place_of_host.get(int(m), int(hs[k]))
    return Dataset(seed, counties, precincts, places, assignment, time.perf_counter() - started)


def load_dataset(seed: int, n_precincts: int = NATIONAL_PRECINCTS, n_places: int | None = None) -> Dataset:
    """The set for ``seed`` and these sizes, from var/bench/ if it was built before, else built and cached."""
    if n_places is None:
        n_places = math.floor(n_precincts * NATIONAL_PLACES / NATIONAL_PRECINCTS)
    county_file = ensure_bench_deps()
    path = CACHE_DIR / f"national-v{FORMAT}-seed{seed}-{n_precincts}p-{n_places}pp.pickle.gz"
    if path.exists():
        started = time.perf_counter()
        with gzip.open(path, "rb") as f:
            data: Dataset = pickle.load(f)  # noqa: S301 - our own cache file, written below
        data.notes.append(
            f"data set read from the cache {path.relative_to(ROOT)} in {time.perf_counter() - started:.1f} s"
        )
        return data
    print(f"building the national data set (seed {seed}, {n_precincts:,} precincts); cached in {path}", flush=True)
    data = generate(seed, n_precincts, n_places, county_file)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wb", compresslevel=1) as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    data.notes.append(f"data set generated in {data.build_seconds:.0f} s and cached in {path.relative_to(ROOT)}")
    return data

"""Loading the national data set (bench/national_data.py) into the product's schema and into PostGIS.

The product's database (``bench_national`` by default) is migrated with ``bench.settings`` (the product's settings
plus the benchmarks' baseline app) and filled through the ORM in bulk: ``bulk_create`` runs each field's
``pre_save``, so the bounding-box columns are derived exactly as on a normal save. One election per state
(upcoming, named after the data set) with every precinct assigned to a polling place, then one geography version
bump, so ``build_index``/``current_index`` and the HTTP endpoints see what an import would have written. A database
that already holds this exact data set (same election name, same counts) is reused as it is; any other is dropped
and created again, which is why its name must start with ``bench_``.

The PostGIS database gets its own tables, loaded double for double from the product's rows (same ids): the
precincts (``geometry(MultiPolygon, 4326)``), the polling places and entrances (what the GeoDjango endpoint of
bench/geodjango/ serves), and one row per buffer zone with its reference as ``geography`` — exactly what the
index measures each zone from. GiST indexes on every geometry.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import shapely
from national_data import FORMAT, Dataset
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


def dataset_stamp(data: Dataset) -> str:
    return f"Bench national v{FORMAT} seed {data.seed}, {len(data.precincts)} precincts, {len(data.places)} places"


def database_name(url: str) -> str:
    name = str(conninfo_to_dict(url).get("dbname") or "")
    if not name.startswith("bench_"):
        raise SystemExit(f"{url}: the benchmark drops and recreates this database; its name must start with bench_")
    return name


def recreate_database(url: str) -> None:
    import psycopg

    name = database_name(url)
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def ensure_database(url: str) -> None:
    import psycopg

    name = database_name(url)
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def product_holds(data: Dataset) -> bool:
    """True when the (configured) product database already holds exactly this data set."""
    from django.db import DatabaseError

    from polling.models import Election, PollingPlace, Precinct

    try:
        return (
            Election.objects.filter(name=dataset_stamp(data)).exists()
            and Precinct.objects.count() == len(data.precincts)
            and PollingPlace.objects.count() == len(data.places)
        )
    except DatabaseError:
        return False


def load_product(data: Dataset, url: str) -> str:
    """Fill the product database Django is configured with (``url``) with ``data``; returns what was done."""
    from django.core.management import call_command
    from django.db import connections, transaction

    from polling.geography.services import geography_version_bump
    from polling.models import (
        County,
        Election,
        Entrance,
        Jurisdiction,
        PollingPlace,
        Precinct,
        PrecinctAssignment,
    )

    ensure_database(url)
    # The schema may have moved on since the data set was loaded: migrating first is a no-op otherwise.
    call_command("migrate", verbosity=0, interactive=False)
    if product_holds(data):
        return "the database already holds this data set (migrated to the current schema): reused"
    started = time.perf_counter()
    connections.close_all()
    recreate_database(url)
    call_command("migrate", verbosity=0, interactive=False)
    migrated = time.perf_counter() - started
    started = time.perf_counter()
    with transaction.atomic():
        states = {j.fips: j for j in Jurisdiction.objects.all()}
        County.objects.bulk_create(
            (
                County(jurisdiction=states[c.state_fips], fips=c.fips, name=c.name, boundary=c.boundary)
                for c in data.counties
            ),
            batch_size=500,
        )
        county_ids = dict(County.objects.values_list("fips", "id"))
        precincts = Precinct.objects.bulk_create(
            (
                Precinct(county_id=county_ids[fips], code=code, name=name, boundary=boundary)
                for fips, code, name, boundary in data.precincts
            ),
            batch_size=2000,
        )
        places = PollingPlace.objects.bulk_create(
            (
                PollingPlace(
                    county_id=county_ids[p.county_fips],
                    code=p.code,
                    name=p.name,
                    address=f"{p.code}, county {p.county_fips}",
                    location=shapely.Point(p.lon, p.lat),
                )
                for p in data.places
            ),
            batch_size=2000,
        )
        Entrance.objects.bulk_create(
            (
                Entrance(
                    polling_place_id=place.pk,
                    name=f"Door {'ABC'[k]}",
                    location=shapely.Point(lon, lat),
                    accessible=k == 0,
                )
                for place, p in zip(places, data.places, strict=True)
                for k, (lon, lat) in enumerate(p.entrances)
            ),
            batch_size=2000,
        )
        day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=14)
        used = {c.state_fips for c in data.counties}
        elections = {
            fips: Election.objects.create(
                jurisdiction=states[fips],
                name=dataset_stamp(data),
                date=day,
                polls_open=dt.time(7),
                polls_close=dt.time(19),
            )
            for fips in sorted(used)
        }
        state_of = {c.fips: c.state_fips for c in data.counties}
        PrecinctAssignment.objects.bulk_create(
            (
                PrecinctAssignment(
                    election=elections[state_of[row[0]]], precinct_id=precinct.pk, polling_place_id=places[k].pk
                )
                for precinct, row, k in zip(precincts, data.precincts, data.assignment, strict=True)
            ),
            batch_size=5000,
        )
        geography_version_bump()
    return f"migrate {migrated:.1f} s, bulk load {time.perf_counter() - started:.1f} s (recreated {database_name(url)})"


def _ewkb(geom: shapely.Geometry) -> str:
    return str(shapely.to_wkb(shapely.set_srid(geom, 4326), hex=True, include_srid=True))


def _multi(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.MultiPolygon([geom]) if geom.geom_type == "Polygon" else geom


def load_postgis(url: str, index: Any) -> tuple[str, str]:
    """(Re)create the PostGIS tables from the product's database and its index; returns (PostGIS version, summary)."""
    import psycopg

    from polling.models import Entrance, PollingPlace, PrecinctAssignment

    ensure_database(url)
    started = time.perf_counter()
    served = dict(PrecinctAssignment.objects.values_list("precinct_id", "polling_place_id"))
    with psycopg.connect(url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        version = conn.execute("SELECT postgis_full_version()").fetchone()[0]  # type: ignore[index]
        conn.execute("DROP TABLE IF EXISTS bench_precinct, bench_place, bench_entrance, bench_zone CASCADE")
        conn.execute(
            "CREATE TABLE bench_precinct (id bigint PRIMARY KEY, county_fips text NOT NULL, code text NOT NULL, "
            "name text NOT NULL, county_id bigint NOT NULL, county_name text NOT NULL, polling_place_id bigint, "
            "boundary geometry(MultiPolygon, 4326) NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE bench_place (id bigint PRIMARY KEY, name text NOT NULL, address text NOT NULL, "
            "location geometry(Point, 4326) NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE bench_entrance (id bigint PRIMARY KEY, polling_place_id bigint NOT NULL, name text NOT NULL, "
            "accessible boolean NOT NULL, location geometry(Point, 4326) NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE bench_zone (id bigserial PRIMARY KEY, polling_place_id bigint NOT NULL, "
            "activity text NOT NULL, reach_m float8 NOT NULL, ref geography NOT NULL)"
        )
        with conn.cursor() as cur:
            with cur.copy(
                "COPY bench_precinct (id, county_fips, code, name, county_id, county_name, polling_place_id, boundary) "
                "FROM STDIN"
            ) as copy:
                for p, b in zip(index.precincts, index._boundaries, strict=True):
                    copy.write_row(
                        (
                            p.id,
                            p.county_fips,
                            p.code,
                            p.name,
                            p.county_id,
                            p.county_name,
                            served.get(p.id),
                            _ewkb(_multi(b)),
                        )
                    )
            with cur.copy("COPY bench_place (id, name, address, location) FROM STDIN") as copy:
                for pk, name, address, loc in PollingPlace.objects.values_list("id", "name", "address", "location"):
                    copy.write_row((pk, name, address, _ewkb(loc)))
            with cur.copy("COPY bench_entrance (id, polling_place_id, name, accessible, location) FROM STDIN") as copy:
                for row in Entrance.objects.values_list("id", "polling_place_id", "name", "accessible", "location"):
                    copy.write_row((*row[:4], _ewkb(row[4])))
            # One row per zone, measured from exactly what the index measures it from.
            from polling.geography.spatial import REACH_BEYOND_LIMIT_M

            with cur.copy("COPY bench_zone (polling_place_id, activity, reach_m, ref) FROM STDIN") as copy:
                for z in index.zones:
                    copy.write_row(
                        (
                            z.polling_place_id,
                            z.rule.activity,
                            z.geo_rule.distance_m + REACH_BEYOND_LIMIT_M,
                            _ewkb(z.geo_rule.reference.geometry),
                        )
                    )
        for table, column in (
            ("bench_precinct", "boundary"),
            ("bench_place", "location"),
            ("bench_entrance", "location"),
            ("bench_zone", "ref"),
        ):
            conn.execute(f"CREATE INDEX {table}_{column}_gist ON {table} USING gist ({column})")
        conn.execute("CREATE INDEX bench_entrance_place ON bench_entrance (polling_place_id)")
        for table in ("bench_precinct", "bench_place", "bench_entrance", "bench_zone"):
            conn.execute(f"ANALYZE {table}")
        conn.commit()
        counts = [
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]  # type: ignore[index]
            for t in ("bench_precinct", "bench_zone")
        ]
    return version, (
        f"loaded {counts[0]:,} precincts, polling places, entrances and {counts[1]:,} zones (GiST on each geometry) "
        f"in {time.perf_counter() - started:.1f} s"
    )


def postgis_subset(conn: Any, ids: list[int], size: int) -> str:
    """A precinct table holding only ``ids`` (with its own GiST index), for the cost-against-size series."""
    table = f"bench_precinct_{size}"
    name = sql.Identifier(table)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(name))
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} AS SELECT id, county_fips, code, boundary FROM bench_precinct WHERE id = ANY(%s)"
        ).format(name),
        (ids,),
    )
    conn.execute(sql.SQL("CREATE INDEX {} ON {} USING gist (boundary)").format(sql.Identifier(table + "_gist"), name))
    conn.execute(sql.SQL("ANALYZE {}").format(name))
    conn.commit()
    return table

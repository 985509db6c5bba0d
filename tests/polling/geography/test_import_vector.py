"""import_geography from Shapefiles (plain, zipped) and GeoPackages in state-plane projections (feet and metres).

The files are made here from known WGS84 shapes, projected with pyproj and written with pyogrio; the import must give
back every vertex within 1 cm (measured on the ellipsoid in metres, never in degrees).
"""

from __future__ import annotations

import datetime as dt
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import pyproj
import pytest
import shapely
from django.core.management import CommandError, call_command
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from polling.geography.importer import GeographyImportError, VectorOptions, import_geography
from polling.models import County, Election, Precinct

pytestmark = pytest.mark.django_db

GEOD = pyproj.Geod(ellps="WGS84")
FEET = "EPSG:2254"  # NAD83 / Mississippi East (ftUS)
METRES = "EPSG:3814"  # NAD83 / Mississippi TM (metres)
# A "county" around Meridian, MS (in the Mississippi East zone), split into two irregular precincts at lon -88.70.
W, S, E, N, MID = -88.80, 32.30, -88.60, 32.45, -88.70


def wiggly(w: float, s: float, e: float, n: float, steps: int = 6) -> Polygon:
    """A ring with many vertices at odd positions, so a wrong transformation cannot hide behind round numbers."""
    south = [(w + (e - w) * k / steps, s + 0.001 * math.sin(k * 1.7)) for k in range(steps)]
    north = [(e - (e - w) * k / steps, n - 0.001 * math.cos(k * 2.3)) for k in range(steps)]
    return Polygon([*south, (e, s), *north, (w, n)])


COUNTY = {"fips": "28075", "name": "Lauderdale", "state": "MS"}
PRECINCTS = [
    (wiggly(W + 0.01, S + 0.01, MID, N - 0.01), {"COUNTYFP": "28075", "PREC_ID": "0101", "PREC_NAME": "West"}),
    (wiggly(MID, S + 0.01, E - 0.01, N - 0.01), {"COUNTYFP": "28075", "PREC_ID": "0102", "PREC_NAME": "East"}),
]
MAP = {"county_fips": "COUNTYFP", "code": "PREC_ID", "name": "PREC_NAME"}


def project(geom: BaseGeometry, crs: str) -> BaseGeometry:
    forward = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return shapely.transform(geom, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1])))


def write_layer(
    path: Path, features: list[tuple[BaseGeometry, dict[str, Any]]], crs: str | None, layer: str | None = None
) -> Path:
    """Write WGS84 ``features`` projected to ``crs`` (a shapefile or a GeoPackage layer, by ``path``'s suffix)."""
    target = crs or FEET
    names = list(features[0][1])
    pyogrio.raw.write(
        str(path),
        geometry=np.array([shapely.to_wkb(project(g, target)) for g, _ in features], dtype=object),
        field_data=[np.array([p[name] for _, p in features], dtype=object) for name in names],
        fields=names,
        crs=target,
        layer=layer,
        driver="GPKG" if path.suffix == ".gpkg" else "ESRI Shapefile",
        geometry_type=features[0][0].geom_type,
        append=path.exists() and path.suffix == ".gpkg",
    )
    if crs is None:
        path.with_suffix(".prj").unlink()
    return path


def county_file(tmp_path: Path, crs: str = FEET) -> Path:
    return write_layer(tmp_path / "county.shp", [(wiggly(W, S, E, N, 8), COUNTY)], crs)


def shapely_of(geom: Any) -> BaseGeometry:
    return shapely.from_wkb(bytes(geom.wkb))


def vertices(geom: BaseGeometry) -> np.ndarray:
    return shapely.get_coordinates(shapely.normalize(geom))


def assert_round_trips_within_1cm(stored: BaseGeometry, original: BaseGeometry) -> None:
    """Same number of vertices; every original vertex has a stored one within 1 cm and vice versa (ring start and
    orientation may differ: a shapefile stores exterior rings clockwise)."""
    got, want = vertices(stored), vertices(original)
    assert len(got) == len(want)
    for a, b in ((want, got), (got, want)):
        for lon, lat in a:
            _, _, dist = GEOD.inv(np.full(len(b), lon), np.full(len(b), lat), b[:, 0], b[:, 1])
            assert dist.min() < 0.01, f"vertex {lon}, {lat} is {dist.min():.4f} m from the nearest imported one"


@pytest.fixture
def election(mississippi):
    return Election.objects.create(
        jurisdiction=mississippi,
        name="General",
        date=dt.date.today() + dt.timedelta(days=30),
        polls_open=dt.time(7),
        polls_close=dt.time(19),
    )


@pytest.mark.parametrize("crs", [FEET, METRES])
def test_state_plane_shapefiles_round_trip_every_vertex_within_1_cm(tmp_path, mississippi, crs):
    precincts = write_layer(tmp_path / "precincts.shp", PRECINCTS, crs)

    result = import_geography(
        counties=county_file(tmp_path, crs), precincts=precincts, vector_options=VectorOptions(mapping=MAP)
    )

    assert result.created == {"counties": 1, "precincts": 2}
    assert_round_trips_within_1cm(shapely_of(County.objects.get().boundary), wiggly(W, S, E, N, 8))
    for original, props in PRECINCTS:
        stored = Precinct.objects.get(code=props["PREC_ID"])
        assert stored.name == props["PREC_NAME"] and stored.county.fips == "28075"
        assert_round_trips_within_1cm(shapely_of(stored.boundary), original)
    # The transformation is named: NAD83 → WGS84 without a grid (offline), as PROJ picks it.
    assert any("NAD83 to WGS 84" in note for note in result.notes), result.notes
    assert not pyproj.network.is_network_enabled()  # type: ignore[attr-defined]


def test_a_second_import_of_the_same_shapefiles_changes_nothing(tmp_path, mississippi):
    files = {"counties": county_file(tmp_path), "precincts": write_layer(tmp_path / "p.shp", PRECINCTS, METRES)}
    import_geography(**files, vector_options=VectorOptions(mapping=MAP))
    again = import_geography(**files, vector_options=VectorOptions(mapping=MAP))
    assert not again.changed and again.unchanged == {"counties": 1, "precincts": 2}


def test_a_zipped_shapefile_is_read(tmp_path, mississippi):
    shp = write_layer(tmp_path / "precincts.shp", PRECINCTS, FEET)
    archive = tmp_path / "precincts.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in tmp_path.glob("precincts.*"):
            if part.suffix != ".zip":
                zf.write(part, f"county_export/{part.name}")
    shp.unlink()

    import_geography(counties=county_file(tmp_path), precincts=archive, vector_options=VectorOptions(mapping=MAP))

    assert sorted(Precinct.objects.values_list("code", flat=True)) == ["0101", "0102"]


def test_a_geopackage_layer_is_chosen_with_layer(tmp_path, mississippi):
    gpkg = tmp_path / "county.gpkg"
    write_layer(gpkg, [(wiggly(W, S, E, N, 8), COUNTY)], METRES, layer="counties")
    write_layer(gpkg, PRECINCTS, METRES, layer="precincts")

    issues = refused(counties=gpkg)
    assert issues == [(None, "layer", "the GeoPackage has 2 layers (counties, precincts); give --layer")]

    import_geography(counties=gpkg, vector_options=VectorOptions(layer="counties"))
    import_geography(precincts=gpkg, vector_options=VectorOptions(layer="precincts", mapping=MAP))
    assert County.objects.get().name == "Lauderdale"
    assert_round_trips_within_1cm(shapely_of(Precinct.objects.get(code="0102").boundary), PRECINCTS[1][0])


def refused(**kwargs: Any) -> list[tuple[int | None, str, str]]:
    """Run an import that must fail; assert it stored nothing and return its issues."""
    with pytest.raises(GeographyImportError) as caught:
        import_geography(**kwargs)
    assert not County.objects.exists() and not Precinct.objects.exists()
    return [(i.index, i.field, i.message) for i in caught.value.issues]


def test_unmapped_or_wrongly_mapped_fields_are_named(tmp_path, mississippi):
    counties, precincts = county_file(tmp_path), write_layer(tmp_path / "p.shp", PRECINCTS, FEET)

    issues = refused(counties=counties, precincts=precincts)
    assert {(i, f) for i, f, _ in issues} == {(i, f) for i in (0, 1) for f in ("county_fips", "code", "name")}

    issues = refused(
        counties=counties, precincts=precincts, vector_options=VectorOptions(mapping={**MAP, "code": "PRECINCT"})
    )
    assert issues == [(None, "map", "--map code=PRECINCT: no such field (the fields: COUNTYFP, PREC_ID, PREC_NAME)")]


def test_a_problem_in_a_mapped_field_names_both_names(tmp_path, mississippi):
    bad = [(PRECINCTS[0][0], {**PRECINCTS[0][1], "PREC_ID": "X" * 40}), PRECINCTS[1]]
    issues = refused(
        counties=county_file(tmp_path),
        precincts=write_layer(tmp_path / "p.shp", bad, FEET),
        vector_options=VectorOptions(mapping=MAP),
    )
    assert [(i, f) for i, f, _ in issues] == [(0, "code (PREC_ID)")]


def test_a_shapefile_without_prj_is_refused_unless_crs_is_given(tmp_path, mississippi):
    path = write_layer(tmp_path / "county.shp", [(wiggly(W, S, E, N, 8), COUNTY)], None)

    issues = refused(counties=path)
    assert issues[0][:2] == (None, "crs") and "--crs" in issues[0][2] and ".prj" in issues[0][2]
    assert refused(counties=path, vector_options=VectorOptions(crs="EPSG:99999"))[0][1] == "crs"

    import_geography(counties=path, vector_options=VectorOptions(crs=FEET))
    assert_round_trips_within_1cm(shapely_of(County.objects.get().boundary), wiggly(W, S, E, N, 8))


def test_crs_that_contradicts_the_prj_is_refused(tmp_path, mississippi):
    issues = refused(counties=county_file(tmp_path, FEET), vector_options=VectorOptions(crs=METRES))
    assert issues[0][1] == "crs" and "contradicts" in issues[0][2]


def test_a_self_intersecting_precinct_is_refused_or_repaired_and_the_repair_reported(tmp_path, mississippi):
    bowtie = Polygon([(W + 0.02, S + 0.02), (MID, N - 0.02), (MID, S + 0.02), (W + 0.02, N - 0.02)])
    files = {
        "counties": county_file(tmp_path),
        "precincts": write_layer(tmp_path / "p.shp", [(bowtie, PRECINCTS[0][1]), PRECINCTS[1]], FEET),
    }
    issues = refused(**files, vector_options=VectorOptions(mapping=MAP))
    assert [(i, f) for i, f, _ in issues] == [(0, "geometry")] and "crosses itself" in issues[0][2]

    result = import_geography(**files, repair=True, vector_options=VectorOptions(mapping=MAP))

    assert len(result.warnings) == 1, result.warnings
    assert result.warnings[0].startswith("p.shp: feature 0, field 'geometry': repaired (")
    assert "crosses itself" in result.warnings[0] and "MultiPolygon of 2 part(s)" in result.warnings[0]
    repaired = Precinct.objects.get(code="0101").boundary
    assert repaired.is_valid and repaired.geom_type == "MultiPolygon" and len(repaired.geoms) == 2


def test_one_bad_feature_stores_nothing_from_any_file(tmp_path, mississippi):
    bad = (PRECINCTS[1][0], {**PRECINCTS[1][1], "COUNTYFP": "28999"})
    issues = refused(
        counties=county_file(tmp_path),
        precincts=write_layer(tmp_path / "p.shp", [PRECINCTS[0], bad], FEET),
        vector_options=VectorOptions(mapping=MAP),
    )
    assert [(i, f) for i, f, _ in issues] == [(1, "county_fips (COUNTYFP)")]


def test_the_command_imports_a_shapefile_and_the_api_finds_the_precinct(tmp_path, election, api, capsys):
    call_command(
        "import_geography",
        "--counties",
        str(county_file(tmp_path, METRES)),
        "--precincts",
        str(write_layer(tmp_path / "precincts.shp", PRECINCTS, FEET)),
        *("--map", "county_fips=COUNTYFP", "--map", "code=PREC_ID", "--map", "name=PREC_NAME"),
        "--no-progress",
    )
    out = capsys.readouterr().out
    assert "precincts: 2 created" in out and "reprojected from NAD83 / Mississippi East (ftUS)" in out

    body = api.get("/api/v1/lookup/", {"lat": 32.40, "lon": -88.65}).json()
    assert body["precinct"]["code"] == "0102" and body["county"]["fips"] == "28075"


def test_the_command_refuses_a_file_without_crs_and_a_bad_map(tmp_path, mississippi):
    path = write_layer(tmp_path / "county.shp", [(wiggly(W, S, E, N, 8), COUNTY)], None)
    with pytest.raises(CommandError, match=r"county.shp, field 'crs': the file declares no coordinate"):
        call_command("import_geography", "--counties", str(path), "--no-progress")
    with pytest.raises(CommandError, match="write it as OURS=THEIRS"):
        call_command("import_geography", "--counties", str(path), "--map", "code", "--no-progress")
    call_command("import_geography", "--counties", str(path), "--crs", FEET, "--no-progress")
    assert County.objects.get().fips == "28075"

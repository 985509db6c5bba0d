"""polling.geometry: exact distances, zones and GeoJSON validation.

GeographicLib (Karney's reference implementation, pure Python) is the oracle throughout; the module under test uses
pyproj's C implementation, so agreement to a micrometre is a real cross-check, not a tautology.
Property-based tests live in test_geometry_properties.py. No database is used.
"""

from __future__ import annotations

import json
import math
import pickle
from typing import Any

import pyproj
import pytest
import shapely
from geographiclib.geodesic import Geodesic
from shapely.geometry import MultiPolygon, Point, Polygon

from polling.geometry import (
    FOOT_M,
    Classification,
    GeometryError,
    Reference,
    Status,
    ZoneRule,
    check_geometry,
    check_lonlat,
    classify,
    feet_to_metres,
    geodesic_distance_m,
    local_projection,
    metres_to_feet,
    parse_geojson,
    quad_segs_for,
    to_geojson,
    to_geojson_text,
    zone_polygon,
)
from polling.geometry import geojson as g
from tests.polling.geometry.geodesic_oracle import edge_distance
from tests.polling.geometry.geodtest_cases import TESTCASES

WGS84 = Geodesic.WGS84
GEOD = pyproj.Geod(ellps="WGS84")
FT150 = 150 * FOOT_M
JACKSON = (-90.1848, 32.2988)  # a Mississippi polling place


def wrap(lon: float) -> float:
    return lon - 360.0 * round(lon / 360.0) if abs(lon) > 180 else lon


def direct(lon: float, lat: float, azi: float, dist: float) -> tuple[float, float]:
    r = WGS84.Direct(lat, lon, azi, dist)
    return wrap(r["lon2"]), r["lat2"]


def inverse(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(WGS84.Inverse(lat1, lon1, lat2, lon2)["s12"])


# --------------------------------------------------------------------------------------------------- units


def test_feet_and_metres_are_exact() -> None:
    assert FOOT_M == 0.3048
    assert feet_to_metres(150) == pytest.approx(45.72, abs=1e-12)
    assert feet_to_metres(30) == pytest.approx(9.144, abs=1e-12)
    assert metres_to_feet(45.72) == pytest.approx(150.0, abs=1e-12)
    assert metres_to_feet(feet_to_metres(600)) == pytest.approx(600.0, abs=1e-12)


def test_geometry_error_carries_code_and_path_and_pickles() -> None:
    exc = GeometryError("Bad point.", "latitude_out_of_range", path="coordinates[0][3]")
    assert isinstance(exc, ValueError)
    assert (str(exc), exc.code, exc.path) == ("Bad point.", "latitude_out_of_range", "coordinates[0][3]")
    again = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
    assert (str(again), again.code, again.path) == ("Bad point.", "latitude_out_of_range", "coordinates[0][3]")
    assert GeometryError("x").code == "invalid_geometry"
    assert GeometryError("x").path is None


# --------------------------------------------------------------------------------------------------- GeodTest


@pytest.mark.parametrize("case", TESTCASES, ids=[f"geodtest{i}" for i in range(len(TESTCASES))])
def test_geodtest_distances_match_reference_to_a_micrometre(case: list[float]) -> None:
    lat1, lon1, _azi1, lat2, lon2, _azi2, s12 = case[:7]
    reference = Reference.from_points([(wrap(lon1), lat1)])
    assert geodesic_distance_m(wrap(lon2), lat2, reference) == pytest.approx(s12, abs=1e-6)
    # And symmetrically, measured from the other end.
    reference2 = Reference.from_points([(wrap(lon2), lat2)])
    assert geodesic_distance_m(wrap(lon1), lat1, reference2) == pytest.approx(s12, abs=1e-6)


# --------------------------------------------------------------------------------------------------- projection


def test_local_projection_is_cached_per_centre() -> None:
    f1, i1 = local_projection(-90.1848, 32.2988)
    f2, i2 = local_projection(-90.1848, 32.2988)
    assert f1 is f2
    assert i1 is i2
    f3, _ = local_projection(-90.1848, 32.2989)
    assert f3 is not f1
    assert local_projection.cache_info().maxsize == 4096


def test_local_projection_matches_proj_crs_definition() -> None:
    # The cached pipeline must be the same projection as the CRS the spec names, with lon/lat axis order.
    lon0, lat0 = -156.7886, 71.2906  # Utqiagvik, Alaska
    forward, inverse_t = local_projection(lon0, lat0)
    aeqd = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m")
    ref_fwd = pyproj.Transformer.from_crs(pyproj.CRS.from_epsg(4326), aeqd, always_xy=True)
    for azi, dist in ((0, 100.0), (73, 250.0), (200, 1000.0), (315, 4000.0)):
        lon, lat = direct(lon0, lat0, azi, dist)
        x, y = forward.transform(lon, lat)
        rx, ry = ref_fwd.transform(lon, lat)
        assert (x, y) == pytest.approx((rx, ry), abs=1e-9)
        # Distance and azimuth from the centre are exact in an azimuthal equidistant projection.
        assert math.hypot(x, y) == pytest.approx(dist, abs=1e-8)
        back = inverse_t.transform(x, y)
        assert back == pytest.approx((lon, lat), abs=1e-12)
    assert forward.transform(lon0, lat0) == pytest.approx((0.0, 0.0), abs=1e-9)


def test_local_projection_rejects_bad_centres() -> None:
    with pytest.raises(GeometryError) as exc:
        local_projection(float("nan"), 10.0)
    assert exc.value.code == "non_finite_coordinate"


def test_quad_segs_bound_the_sagitta() -> None:
    for radius in (9.144, 45.72, 182.88, 1000.0):
        for err in (0.0005, 0.002, 0.01):
            q = quad_segs_for(radius, err)
            assert radius * (1 - math.cos(math.pi / (4 * q))) <= err
            assert radius * (1 - math.cos(math.pi / (4 * (q - 1)))) > err or q == 1


# --------------------------------------------------------------------------------------------------- classify


def three_entrances(center: tuple[float, float] = JACKSON) -> Reference:
    lon, lat = center
    entrances = [direct(lon, lat, 10, 6.0), direct(lon, lat, 130, 9.0), direct(lon, lat, 250, 12.0)]
    return Reference.from_points(entrances, center=center)


def test_classify_inside_outside_and_exact_boundary() -> None:
    reference = Reference.from_points([JACKSON])
    rule = ZoneRule(reference, FT150)
    lon, lat = direct(*JACKSON, 45.0, FT150 - 0.001)
    assert classify(lon, lat, rule).status is Status.INSIDE
    lon, lat = direct(*JACKSON, 45.0, FT150 + 0.001)
    assert classify(lon, lat, rule).status is Status.OUTSIDE
    # "Within 150 feet" includes a point at exactly 150 feet: with the limit set to the point's own computed
    # distance, the comparison is d <= limit.
    d = geodesic_distance_m(lon, lat, reference)
    at_limit = classify(lon, lat, ZoneRule(reference, d))
    assert at_limit.status is Status.INSIDE
    assert at_limit.distance_m == at_limit.limit_m
    # Exactly on an entrance.
    result = classify(*JACKSON, rule)
    assert result == Classification(Status.INSIDE, 0.0, FT150)


def test_classification_reports_feet() -> None:
    rule = ZoneRule.from_feet(Reference.from_points([JACKSON]), 150)
    assert rule.distance_m == pytest.approx(45.72, abs=1e-12)
    assert rule.distance_ft == pytest.approx(150.0, abs=1e-9)
    lon, lat = direct(*JACKSON, 0.0, 100 * FOOT_M)
    result = classify(lon, lat, rule)
    assert result.distance_ft == pytest.approx(100.0, abs=1e-7)
    assert result.limit_ft == pytest.approx(150.0, abs=1e-9)


def test_classify_uses_nearest_of_several_entrances() -> None:
    reference = three_entrances()
    rule = ZoneRule(reference, 30 * FOOT_M)
    entrances = list(reference.geometry.geoms)
    e = entrances[2]
    lon, lat = direct(e.x, e.y, 250.0, 9.0)
    expected = min(inverse(lon, lat, p.x, p.y) for p in entrances)
    result = classify(lon, lat, rule)
    assert result.distance_m == pytest.approx(expected, abs=1e-7)
    assert result.status is Status.INSIDE


def test_uncertain_when_accuracy_straddles_the_limit() -> None:
    rule = ZoneRule(Reference.from_points([JACKSON]), FT150)
    lon, lat = direct(*JACKSON, 300.0, FT150 + 3.0)  # 3 m outside
    assert classify(lon, lat, rule, accuracy_m=5.0).status is Status.UNCERTAIN
    assert classify(lon, lat, rule, accuracy_m=2.9).status is Status.OUTSIDE
    assert classify(lon, lat, rule, accuracy_m=0.0).status is Status.OUTSIDE
    lon, lat = direct(*JACKSON, 300.0, FT150 - 3.0)  # 3 m inside
    assert classify(lon, lat, rule, accuracy_m=5.0).status is Status.UNCERTAIN
    assert classify(lon, lat, rule, accuracy_m=2.9).status is Status.INSIDE
    # |d - limit| == accuracy counts as uncertain (the true position may be on the line).
    d = classify(lon, lat, rule).distance_m
    exact_accuracy = FT150 - d
    assert classify(lon, lat, rule, accuracy_m=exact_accuracy).status is Status.UNCERTAIN


@pytest.mark.parametrize("accuracy", [float("nan"), -0.1, float("inf"), -float("inf"), "5", None, True])
def test_invalid_accuracy_is_rejected(accuracy: Any) -> None:
    rule = ZoneRule(Reference.from_points([JACKSON]), FT150)
    with pytest.raises(GeometryError) as exc:
        classify(*JACKSON, rule, accuracy_m=accuracy)
    assert exc.value.code == "invalid_accuracy"


@pytest.mark.parametrize(
    ("lon", "lat", "code"),
    [
        (float("nan"), 32.0, "non_finite_coordinate"),
        (-90.0, float("inf"), "non_finite_coordinate"),
        (-190.0, 32.0, "longitude_out_of_range"),
        (-100.0, 91.0, "latitude_out_of_range"),
        (10.0, 181.0, "latitude_out_of_range"),
        (32.3, -90.2, "axis_order_swapped"),
        (True, 32.0, "invalid_geojson"),
        ("-90", 32.0, "invalid_geojson"),
    ],
)
def test_classify_and_check_lonlat_reject_bad_points(lon: Any, lat: Any, code: str) -> None:
    rule = ZoneRule(Reference.from_points([JACKSON]), FT150)
    with pytest.raises(GeometryError) as exc:
        classify(lon, lat, rule)
    assert exc.value.code == code
    with pytest.raises(GeometryError) as exc:
        check_lonlat(lon, lat)
    assert exc.value.code == code


@pytest.mark.parametrize("distance", [0.0, -1.0, float("nan"), float("inf"), "45"])
def test_zone_rule_distance_is_validated(distance: Any) -> None:
    with pytest.raises(GeometryError) as exc:
        ZoneRule(Reference.from_points([JACKSON]), distance)
    assert exc.value.code == "invalid_distance"


def test_reference_validation() -> None:
    with pytest.raises(GeometryError) as exc:
        Reference(shapely.LineString([(0, 0), (1, 1)]), (0.0, 0.0))
    assert exc.value.code == "wrong_geometry_type"
    with pytest.raises(GeometryError) as exc:
        Reference.from_points([])
    assert exc.value.code == "empty_geometry"
    with pytest.raises(GeometryError) as exc:
        Reference(Point(0, 0), (100.0, 95.0))
    assert exc.value.code == "latitude_out_of_range"
    with pytest.raises(GeometryError) as exc:
        Reference.from_polygon(Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]))
    assert exc.value.code == "self_intersection"
    ref = Reference.from_points([(179.99999, 52.0), (-179.99999, 52.0)])
    # The default centre is taken across the antimeridian, not at longitude 0.
    assert abs(ref.center[0]) == pytest.approx(180.0, abs=1e-9)
    assert ref.center[1] == pytest.approx(52.0)
    assert ref == Reference.from_points([(179.99999, 52.0), (-179.99999, 52.0)])
    assert hash(ref) == hash(Reference.from_points([(179.99999, 52.0), (-179.99999, 52.0)]))


# --------------------------------------------------------------------------------------------------- outlines


def rectangle(origin: tuple[float, float], azi: float, a: float, b: float) -> list[tuple[float, float]]:
    """Corners of a geodesic "rectangle", counter-clockwise (turning left = azimuth - 90)."""
    c0 = origin
    c1 = direct(*c0, azi, a)
    c2 = direct(*c1, azi - 90.0, b)
    c3 = direct(*c0, azi - 90.0, b)
    return [c0, c1, c2, c3, c0]


def outline_distance(lon: float, lat: float, ring: list[tuple[float, float]]) -> float:
    # Inside test in lon/lat, continuous across the antimeridian (edges are metres long: straight enough).
    ref = ring[0][0]
    unwrapped = [(x + 360.0 * round((ref - x) / 360.0), y) for x, y in ring]
    if Polygon(unwrapped).contains(Point(lon + 360.0 * round((ref - lon) / 360.0), lat)):
        return 0.0
    return min(edge_distance(lon, lat, ring[i], ring[i + 1]) for i in range(len(ring) - 1))


def test_building_outline_distances_match_oracle() -> None:
    ring = rectangle(JACKSON, 30.0, 60.0, 25.0)
    reference = Reference.from_polygon(Polygon(ring))
    cases = [
        direct(*ring[0], 30.0 + 90.0, 10.0),  # beside the first edge, outside
        direct(*ring[1], 60.0, 45.0),  # off a corner
        direct(*ring[2], 200.0, 100.0),  # far off the far side
        direct(*ring[0], 30.0 + 180.0, 0.5),  # just beyond a corner along an edge line
    ]
    for lon, lat in cases:
        d = geodesic_distance_m(lon, lat, reference)
        assert d == pytest.approx(outline_distance(lon, lat, ring), abs=1e-7)
    inside = direct(*ring[0], 30.0 - 45.0, 10.0)
    assert geodesic_distance_m(*inside, reference) == 0.0
    # A vertex and an edge point are at distance ~0.
    assert geodesic_distance_m(*ring[2], reference) == pytest.approx(0.0, abs=1e-9)


def test_building_outline_with_hole_is_measured_from_the_hole_boundary() -> None:
    outer = rectangle(JACKSON, 0.0, 80.0, 80.0)
    inner = rectangle(direct(*direct(*JACKSON, 0.0, 20.0), -90.0, 20.0), 0.0, 40.0, 40.0)
    courtyard = Polygon(outer, [inner[::-1]])
    reference = Reference.from_polygon(courtyard)
    centre = direct(*direct(*JACKSON, 0.0, 40.0), -90.0, 40.0)  # middle of the courtyard
    d = geodesic_distance_m(*centre, reference)
    assert d == pytest.approx(20.0, abs=1e-3)
    assert d == pytest.approx(min(edge_distance(*centre, inner[i], inner[i + 1]) for i in range(4)), abs=1e-7)
    rule = ZoneRule(reference, 30 * FOOT_M)
    zone = zone_polygon(rule)
    # 20 m > 30 ft: the courtyard centre is outside the zone, a hole in it.
    assert classify(*centre, rule).status is Status.OUTSIDE
    assert not zone.contains(Point(centre))
    assert len(zone.interiors) == 1


def test_building_outline_across_the_antimeridian_given_split() -> None:
    # A building straddling 180 degrees, stored RFC 7946-style as two parts meeting on the meridian.
    lat0 = 51.88
    west = (179.9997, lat0)
    ring = rectangle(west, 90.0, 40.0, 30.0)
    ring_unwrapped = [(lon + 360.0 if lon < 0 else lon, lat) for lon, lat in ring]
    whole = Polygon(ring_unwrapped)
    east_part = shapely.intersection(whole, shapely.box(0, -90, 180, 90))
    west_part = shapely.affinity.translate(shapely.intersection(whole, shapely.box(180, -90, 360, 90)), -360.0)
    split = MultiPolygon([east_part, west_part])
    assert split.is_valid
    reference = Reference.from_polygon(split)
    # A point inside the building right on the seam: inside, not 0.x m from an imaginary wall.
    seam_inside = (180.0, lat0 + 0.0001)
    assert geodesic_distance_m(*seam_inside, reference) == 0.0
    assert geodesic_distance_m(-180.0, lat0 + 0.0001, reference) == 0.0
    # Points outside on either side of the meridian, checked against the oracle on the unsplit ring.
    for lon, lat in (direct(180.0, lat0, 0.0, 25.0), direct(*ring[1], 135.0, 12.0), direct(*ring[0], 250.0, 8.0)):
        assert geodesic_distance_m(lon, lat, reference) == pytest.approx(outline_distance(lon, lat, ring), abs=1e-7)
    zone = zone_polygon(ZoneRule(reference, FT150))
    assert isinstance(zone, MultiPolygon)
    for part in zone.geoms:
        lons = shapely.get_coordinates(part)[:, 0]
        assert lons.min() >= -180.0
        assert lons.max() <= 180.0


def test_reference_from_polygon_accepts_a_ring_of_pairs() -> None:
    ring = rectangle(JACKSON, 0.0, 30.0, 20.0)
    a = Reference.from_polygon(ring)
    b = Reference.from_polygon(Polygon(ring))
    assert a == b
    assert a.is_polygonal


# --------------------------------------------------------------------------------------------------- zones


def test_single_entrance_150ft_zone_in_mississippi_is_91_44m_across() -> None:
    """Regression: a zone buffered in degrees or Web Mercator would be ~77 m across east-west here, not 91.44."""
    zone = zone_polygon(ZoneRule(Reference.from_points([JACKSON]), FT150))
    assert isinstance(zone, Polygon)
    coords = shapely.get_coordinates(zone)
    east, west = coords[coords[:, 0].argmax()], coords[coords[:, 0].argmin()]
    north, south = coords[coords[:, 1].argmax()], coords[coords[:, 1].argmin()]
    assert inverse(*west, *east) == pytest.approx(2 * 45.72, abs=0.01)
    assert inverse(*south, *north) == pytest.approx(2 * 45.72, abs=0.01)
    # Every vertex 150 ft from the entrance, a few micrometres inside (never outside) the limit.
    for lon, lat in coords:
        assert 45.72 - 3e-6 <= inverse(lon, lat, *JACKSON) <= 45.72


def test_zone_rings_are_rfc7946_oriented_and_valid() -> None:
    zone = zone_polygon(ZoneRule(three_entrances(), 600 * FOOT_M))
    assert zone.is_valid
    assert zone.exterior.is_ccw
    out = to_geojson(zone)
    ring = shapely.LinearRing(out["coordinates"][0])
    assert ring.is_ccw


def test_zone_polygon_max_error_controls_the_chords() -> None:
    rule = ZoneRule(Reference.from_points([JACKSON]), FT150)
    coarse = zone_polygon(rule, max_error_m=0.05)
    fine = zone_polygon(rule, max_error_m=0.0005)
    assert len(coarse.exterior.coords) < len(fine.exterior.coords)
    for zone, err in ((coarse, 0.05), (fine, 0.0005)):
        c = shapely.get_coordinates(zone)
        mids = (c[:-1] + c[1:]) / 2
        worst = max(FT150 - inverse(lon, lat, *JACKSON) for lon, lat in mids)
        assert 0.0 <= worst <= err
    for bad in (0.0, -1.0, float("nan"), 1e-6):
        with pytest.raises(GeometryError):
            zone_polygon(rule, max_error_m=bad)


def test_zone_is_exact_for_an_entrance_a_fraction_of_a_millimetre_from_the_centre() -> None:
    # Regression: PROJ's AEQD snaps points within 1e-10 rad (~0.64 mm) of its centre onto the centre, which put a
    # whole zone 0.3 mm off. Zones are projected with geodesics instead.
    entrance = direct(*JACKSON, 45.0, 0.0003)
    forward, _ = local_projection(*JACKSON)
    assert forward.transform(*entrance) == (0.0, 0.0)  # the PROJ behaviour worked around
    zone = zone_polygon(ZoneRule(Reference.from_points([entrance], center=JACKSON), FT150))
    for lon, lat in shapely.get_coordinates(zone):
        assert FT150 - 3e-6 <= inverse(lon, lat, *entrance) <= FT150


def test_zone_near_a_pole_or_too_small_is_refused() -> None:
    with pytest.raises(GeometryError) as exc:
        zone_polygon(ZoneRule(Reference.from_points([(0.0, 89.9999)]), FT150))
    assert exc.value.code == "zone_near_pole"
    with pytest.raises(GeometryError) as exc:
        zone_polygon(ZoneRule(Reference.from_points([JACKSON]), 0.0005))
    assert exc.value.code == "invalid_distance"


def test_zone_refuses_to_reach_beyond_the_local_projection() -> None:
    far = Reference.from_points([JACKSON, direct(*JACKSON, 90.0, 6000.0)], center=JACKSON)
    with pytest.raises(GeometryError) as exc:
        zone_polygon(ZoneRule(far, FT150))
    assert exc.value.code == "zone_too_large"


def test_zone_around_an_outline_contains_the_building_and_points_agree() -> None:
    ring = rectangle(JACKSON, 75.0, 70.0, 30.0)
    rule = ZoneRule(Reference.from_polygon(ring), FT150)
    zone = zone_polygon(rule)
    assert zone.contains(Polygon(ring))
    for lon, lat in shapely.get_coordinates(zone)[::37]:
        assert FT150 - 0.002 - 1e-8 <= outline_distance(lon, lat, ring) <= FT150 + 1e-8


def test_antimeridian_zone_is_split_into_valid_ccw_parts_with_the_right_area() -> None:
    lat0 = 52.0
    entrances = [(179.99995, lat0), (-179.99993, lat0 + 0.00002)]
    reference = Reference.from_points(entrances)
    rule = ZoneRule(reference, FT150)
    max_error = 0.002
    zone = zone_polygon(rule, max_error_m=max_error)
    assert isinstance(zone, MultiPolygon)
    assert zone.is_valid
    assert len(zone.geoms) == 2
    seam_lons = set()
    for part in zone.geoms:
        lons = shapely.get_coordinates(part)[:, 0]
        assert lons.min() >= -180.0
        assert lons.max() <= 180.0
        assert part.exterior.is_ccw
        seam_lons |= {float(lon) for lon in lons if abs(abs(lon) - 180.0) < 1e-12}
    assert seam_lons == {180.0, -180.0}  # the cut lies exactly on the meridian
    # Geodesic area of the parts against the exact area of the union of two discs (planar formula; the curvature
    # correction, ~r**2/(12 R**2), is 1e-11 relative here).
    r = rule.distance_m
    sep = inverse(*entrances[0], *entrances[1])
    lens = 2 * r * r * math.acos(sep / (2 * r)) - (sep / 2) * math.sqrt(4 * r * r - sep * sep)
    expected = 2 * math.pi * r * r - lens
    perimeter_true = 2 * (2 * math.pi - 2 * math.acos(sep / (2 * r))) * r
    area = sum(GEOD.geometry_area_perimeter(part)[0] for part in zone.geoms)
    assert area > 0  # counter-clockwise parts give a positive geodesic area
    # Chords lie inside the true circles by at most the sagitta, so the polygon is smaller by less than
    # perimeter * sagitta, and never larger.
    assert 0.0 <= expected - area <= perimeter_true * max_error
    # Points on either side of the meridian classify consistently with the zone.
    for azi in (0, 90, 180, 270):
        lon, lat = direct(*entrances[0], azi, r - 0.01)
        assert classify(lon, lat, rule).status is Status.INSIDE
        assert zone.buffer(1e-9).contains(Point(lon, lat))


# --------------------------------------------------------------------------------------------------- parse_geojson

SQUARE = [[-90.19, 32.29], [-90.18, 32.29], [-90.18, 32.30], [-90.19, 32.30], [-90.19, 32.29]]


def poly(coords: Any) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": coords}


def parse_error(value: Any, **kwargs: Any) -> GeometryError:
    with pytest.raises(GeometryError) as exc:
        parse_geojson(value, **kwargs)
    return exc.value


def test_parse_valid_geometries() -> None:
    assert parse_geojson({"type": "Point", "coordinates": [-90.1, 32.3]}).equals(Point(-90.1, 32.3))
    assert parse_geojson('{"type": "Point", "coordinates": [-90.1, 32.3, 105.2]}').equals(Point(-90.1, 32.3))
    assert parse_geojson({"type": "MultiPoint", "coordinates": [[-90.1, 32.3], [-90.2, 32.4]]}).geom_type == (
        "MultiPoint"
    )
    assert parse_geojson({"type": "LineString", "coordinates": [[-90.1, 32.3], [-90.2, 32.4]]}).length > 0
    p = parse_geojson(poly([SQUARE]))
    assert isinstance(p, Polygon)
    assert not p.has_z
    mp = parse_geojson({"type": "MultiPolygon", "coordinates": [[SQUARE]]})
    assert isinstance(mp, MultiPolygon)
    assert parse_geojson(json.dumps(poly([SQUARE])), allowed_types=("Polygon", "MultiPolygon")).equals(p)
    # Integers are numbers too.
    assert parse_geojson({"type": "Point", "coordinates": [10, 20]}).equals(Point(10, 20))


def test_parse_rejects_nan_and_infinity_from_json_text() -> None:
    err = parse_error(
        '{"type": "Polygon", "coordinates": [[[-90.19, 32.29], [NaN, 32.29], [-90.18, 32.30], [-90.19, 32.29]]]}'
    )
    assert err.code == "non_finite_coordinate"
    assert err.path == "coordinates[0][1]"
    assert "point 2 of the outer boundary" in str(err).lower()
    assert "NaN" in str(err)
    err = parse_error('{"type": "Point", "coordinates": [-90.1, Infinity]}')
    assert err.code == "non_finite_coordinate"
    err = parse_error('{"type": "Point", "coordinates": [-90.1, 1e999]}')
    assert err.code == "non_finite_coordinate"


@pytest.mark.parametrize("bad", ["-90.19", True, False, None, [1], {"x": 1}])
def test_parse_rejects_non_numbers(bad: Any) -> None:
    coords = [list(p) for p in SQUARE]
    coords[2][0] = bad
    err = parse_error(poly([coords]))
    assert err.code == "invalid_geojson"
    assert err.path == "coordinates[0][2]"
    assert "not a number" in str(err)


def test_parse_rejects_wrong_position_arity() -> None:
    err = parse_error({"type": "Point", "coordinates": [1.0]})
    assert err.code == "invalid_geojson"
    err = parse_error({"type": "Point", "coordinates": [1.0, 2.0, 3.0, 4.0]})
    assert err.code == "invalid_geojson"
    err = parse_error({"type": "Point", "coordinates": [1.0, 2.0, "high"]})
    assert err.code == "invalid_geojson"
    err = parse_error({"type": "Polygon", "coordinates": SQUARE})  # one nesting level short
    assert err.code == "invalid_geojson"
    assert err.path == "coordinates[0][0]"


def test_parse_rejects_out_of_range() -> None:
    err = parse_error({"type": "Point", "coordinates": [-190.5, 32.3]})
    assert err.code == "longitude_out_of_range"
    assert "-190.5" in str(err)
    assert "-180 to 180" in str(err)
    err = parse_error({"type": "MultiPoint", "coordinates": [[-90.0, 32.0], [100.0, -95.0]]})
    assert err.code == "latitude_out_of_range"
    assert err.path == "coordinates[1]"
    assert "point 2" in str(err).lower()
    err = parse_error({"type": "Point", "coordinates": [10**400, 0]})
    assert err.code == "longitude_out_of_range"


def test_parse_detects_swapped_axes_when_certain_by_range() -> None:
    swapped = [[lat, lon] for lon, lat in SQUARE]
    err = parse_error(poly([swapped]))
    assert err.code == "axis_order_swapped"
    assert err.path == "coordinates[0][0]"
    message = str(err)
    assert "latitude, longitude" in message
    assert "[-90.19, 32.29]" in message  # tells the user what the pair should be


def test_parse_detects_swapped_axes_against_the_expected_bbox() -> None:
    # In Maine both readings are in range, so only the expected area can tell.
    maine = (-71.1, 43.0, -66.9, 47.5)
    portland = [[-70.26, 43.66], [-70.25, 43.66], [-70.25, 43.67], [-70.26, 43.67], [-70.26, 43.66]]
    assert parse_geojson(poly([portland]), expected_bbox=maine).is_valid
    swapped = [[lat, lon] for lon, lat in portland]
    assert parse_geojson(poly([swapped])).is_valid  # without the hint it is a valid place (near Kazakhstan)
    err = parse_error(poly([swapped]), expected_bbox=maine)
    assert err.code == "axis_order_swapped"
    assert "latitude, longitude" in str(err)
    # Outside the box but not explained by a swap: accepted (the box is a hint, not a fence).
    elsewhere = [[lon + 5, lat] for lon, lat in portland]
    assert parse_geojson(poly([elsewhere]), expected_bbox=maine).is_valid


def test_parse_rejects_unclosed_ring() -> None:
    err = parse_error(poly([[*SQUARE[:-1], [-90.19, 32.2901]]]))
    assert err.code == "unclosed_ring"
    assert err.path == "coordinates[0][4]"
    assert "not closed" in str(err)


def test_parse_rejects_too_few_points() -> None:
    err = parse_error(poly([[SQUARE[0], SQUARE[1], SQUARE[0]]]))
    assert err.code == "too_few_points"
    assert err.path == "coordinates[0]"
    assert "at least 4" in str(err)
    err = parse_error({"type": "LineString", "coordinates": [[-90.0, 32.0]]})
    assert err.code == "too_few_points"
    # Four positions, all the same point: closed, but no area.
    same = [SQUARE[0]] * 4
    err = parse_error(poly([same]))
    assert err.code == "too_few_points"


BOWTIE = [[-90.19, 32.29], [-90.18, 32.30], [-90.18, 32.29], [-90.19, 32.30], [-90.19, 32.29]]


def test_parse_rejects_self_intersection_unless_repaired() -> None:
    err = parse_error(poly([BOWTIE]))
    assert err.code == "self_intersection"
    assert "crosses itself" in str(err)
    assert "longitude -90.185, latitude 32.295" in str(err)
    repaired = parse_geojson(poly([BOWTIE]), repair=True)
    assert isinstance(repaired, MultiPolygon)
    assert repaired.is_valid
    assert len(repaired.geoms) == 2
    assert repaired.area == pytest.approx(0.01 * 0.01 / 2)
    err = parse_error(poly([BOWTIE]), repair=True, allowed_types=("Polygon",))
    assert err.code == "wrong_geometry_type"


def test_parse_other_invalidity_is_explained() -> None:
    hole_outside = [[-90.0, 32.0], [-89.99, 32.0], [-89.99, 32.01], [-90.0, 32.0]]
    err = parse_error(poly([SQUARE, hole_outside]))
    assert err.code == "invalid_geometry"
    assert "hole" in str(err).lower()


def test_parse_rejects_empty_geometries() -> None:
    for value in (
        {"type": "Point", "coordinates": []},
        {"type": "MultiPoint", "coordinates": []},
        {"type": "LineString", "coordinates": []},
        {"type": "Polygon", "coordinates": []},
        {"type": "MultiPolygon", "coordinates": []},
        {"type": "MultiPolygon", "coordinates": [[]]},
        "   ",
    ):
        assert parse_error(value).code == "empty_geometry", value


def test_parse_rejects_wrong_types() -> None:
    err = parse_error(poly([SQUARE]), allowed_types=("Point",))
    assert err.code == "wrong_geometry_type"
    assert "Point" in str(err)
    assert "Polygon" in str(err)
    for value in (
        {"type": "GeometryCollection", "geometries": []},
        {"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]]]},
        {"type": "Circle", "coordinates": [0, 0]},
        {"coordinates": [0, 0]},
        {"type": "Point"},
        [1, 2],
        "42",
    ):
        assert parse_error(value).code == "invalid_geojson", value


def test_parse_rejects_invalid_json_and_features() -> None:
    err = parse_error('{"type": "Polygon", "coordinates": [[[0, 0], [1, 0]')
    assert err.code == "invalid_geojson"
    assert "not valid GeoJSON text" in str(err)
    feature = {"type": "Feature", "properties": {}, "geometry": poly([SQUARE])}
    err = parse_error(feature)
    assert err.code == "invalid_geojson"
    assert "geometry" in str(err)
    err = parse_error({"type": "FeatureCollection", "features": [feature]})
    assert err.code == "invalid_geojson"
    err = parse_error("[" * 100_000 + "]" * 100_000)
    assert err.code == "invalid_geojson"


def test_parse_rejects_a_projected_crs() -> None:
    value = {**poly([SQUARE]), "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}}
    assert parse_error(value).code == "invalid_geojson"
    value["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    assert parse_geojson(value).is_valid


def test_parse_rejects_too_many_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(g, "MAX_POSITIONS", 10)
    ring = [
        [-90.0 + 0.001 * math.cos(k / 20 * 2 * math.pi), 32.0 + 0.001 * math.sin(k / 20 * 2 * math.pi)]
        for k in range(20)
    ]
    ring.append(ring[0])
    err = parse_error(poly([ring]))
    assert err.code == "geometry_too_large"
    assert "10" in str(err)


def test_round_trip_preserves_coordinates_exactly() -> None:
    # Awkward binary fractions and full-precision doubles survive parse -> GeoJSON -> text -> parse bit for bit.
    ring = [
        [-90.18480000000001, 32.29880000000002],
        [-90.1, 32.2988],
        [-90.1, 32.3 + 1e-12],
        [-90.18480000000001, 32.29880000000002],
    ]
    hole = [[-90.12, 32.2989], [-90.12, 32.2991], [-90.11, 32.2989], [-90.12, 32.2989]]  # clockwise
    value = poly([ring, hole])
    geom = parse_geojson(value)
    out = to_geojson(geom)
    assert out == {"type": "Polygon", "coordinates": [ring, hole]}
    assert parse_geojson(to_geojson_text(geom)).equals_exact(geom, tolerance=0)
    assert json.loads(to_geojson_text(geom, indent=2)) == out


def test_to_geojson_orients_rings_rfc7946() -> None:
    clockwise = SQUARE[::-1]
    geom = parse_geojson(poly([clockwise]))
    out = to_geojson(geom)
    assert out["coordinates"][0] == [list(p) for p in SQUARE]
    assert shapely.LinearRing(out["coordinates"][0]).is_ccw
    ccw_hole = [[-90.188, 32.292], [-90.182, 32.292], [-90.182, 32.298], [-90.188, 32.292]]
    out = to_geojson(parse_geojson(poly([SQUARE, ccw_hole])))
    assert not shapely.LinearRing(out["coordinates"][1]).is_ccw
    assert to_geojson(Point(1.123456789, 2.0), precision=3) == {"type": "Point", "coordinates": [1.123, 2.0]}


def test_check_geometry_on_shapely_objects() -> None:
    check_geometry(Polygon(SQUARE))
    for geom, code, path in (
        (Polygon(), "empty_geometry", None),
        (Point(float("nan"), 1.0), "non_finite_coordinate", "coordinates"),
        (Polygon([(0, 0), (200, 0), (200, 1), (0, 0)]), "longitude_out_of_range", "coordinates[0][1]"),
        (shapely.MultiPoint([(0, 0), (100, 95)]), "latitude_out_of_range", "coordinates[1]"),
        (Point(32.3, -90.2), "axis_order_swapped", "coordinates"),
        (Polygon(BOWTIE), "self_intersection", None),
        (shapely.GeometryCollection([Point(0, 0)]), "wrong_geometry_type", None),
        (shapely.MultiPolygon([Polygon(SQUARE), Polygon(SQUARE)]), "self_intersection", None),
        (Polygon(SQUARE, [[(-90.0, 32.0), (-89.99, 32.0), (-89.99, 32.01), (-90.0, 32.0)]]), "invalid_geometry", None),
    ):
        with pytest.raises(GeometryError) as exc:
            check_geometry(geom)
        assert exc.value.code == code, geom
        assert exc.value.path == path, geom
    with pytest.raises(GeometryError, match="Two parts of the shape overlap"):
        check_geometry(shapely.MultiPolygon([Polygon(SQUARE), Polygon(SQUARE)]))

"""The SVG map preview: valid standalone XML, escaped text, true-to-scale projection, compact output."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest
from shapely.geometry import MultiPolygon, Point, Polygon, box

from polling import geometry
from polling.geometry import svg

NS = "{http://www.w3.org/2000/svg}"
JACKSON = (-90.2, 32.3)


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - our own output, parsed to prove it is well-formed


def paths(root: ET.Element, css: str) -> list[ET.Element]:
    return [p for p in root.iter(f"{NS}path") if css in p.get("class", "").split()]


def subpaths(d: str) -> list[list[tuple[float, float]]]:
    """Each 'M…' run of a path as its list of (x, y) points."""
    return [
        [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+) (-?[\d.]+)", part)]
        for part in re.findall(r"M[^M]*", d)
    ]


def square_around(lon: float, lat: float, half_m: float) -> Polygon:
    dlat = half_m / 111_000
    dlon = half_m / (111_000 * math.cos(math.radians(lat)))
    return box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)


def test_output_is_a_standalone_svg_document_with_no_scripts_or_external_references():
    text = svg.render_svg(
        [
            svg.Layer(square_around(*JACKSON, 500), "boundary", "precinct boundary"),
            svg.Layer(square_around(*JACKSON, 46), "zone-campaigning", "campaigning 150 ft from entrances"),
            svg.Layer(square_around(*JACKSON, 9), "zone-loitering", "loitering 30 ft from entrances"),
            svg.Layer(Point(JACKSON[0] + 0.0001, JACKSON[1]), "entrance", "entrance in use", tag="North door"),
            svg.Layer(Point(*JACKSON), "place", "polling place", tag="P1"),
        ],
        title="Precinct 101",
    )
    root = parse(text)
    assert root.tag == f"{NS}svg"
    assert root.get("viewBox").startswith("0 0 320 ")
    assert root.find(f"{NS}title").text == "Precinct 101"
    for element in root.iter():
        assert not element.tag.endswith(("script", "foreignObject", "image", "use", "a"))
        assert not any("href" in name or name.startswith("on") for name in element.attrib)
    assert "url(" not in text


def test_labels_tags_and_title_are_escaped():
    nasty = '<script>alert("x")</script> & more'
    text = svg.render_svg(
        [svg.Layer(Point(*JACKSON), "place", nasty, tag=nasty[:10]), svg.Layer(square_around(*JACKSON, 50), nasty)],
        title=nasty,
    )
    root = parse(text)
    assert "<script" not in text
    assert not list(root.iter(f"{NS}script"))
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert nasty in texts  # the legend shows the label as text
    assert nasty[:10] in texts  # the tag beside the point
    assert root.find(f"{NS}title").text == nasty
    # An unknown kind becomes a harmless class name and the default style.
    classes = [p.get("class") for p in root.iter(f"{NS}path") if p.get("class")]
    assert len(classes) == 1
    assert re.fullmatch(r"[A-Za-z0-9_-]+", classes[0])


def test_zones_are_dashed_differently_and_named_in_the_legend_not_by_colour_alone():
    root = parse(
        svg.render_svg(
            [
                svg.Layer(square_around(*JACKSON, 46), "zone-campaigning", "campaigning 150 ft from entrances"),
                svg.Layer(square_around(*JACKSON, 9), "zone-loitering", "loitering 30 ft from entrances"),
            ]
        )
    )
    (campaigning,) = paths(root, "zone-campaigning")
    (loitering,) = paths(root, "zone-loitering")
    assert "zone" in campaigning.get("class").split()
    assert campaigning.get("stroke-dasharray") and loitering.get("stroke-dasharray")
    assert campaigning.get("stroke-dasharray") != loitering.get("stroke-dasharray")
    legend = [t.text for t in root.iter(f"{NS}text")]
    assert "campaigning 150 ft from entrances" in legend
    assert "loitering 30 ft from entrances" in legend


def test_polygon_holes_are_separate_rings_filled_even_odd():
    outer = square_around(*JACKSON, 100)
    hole = square_around(*JACKSON, 30)
    donut = Polygon(outer.exterior.coords, [hole.exterior.coords])
    root = parse(svg.render_svg([svg.Layer(donut, "boundary", "precinct")]))
    (path,) = paths(root, "boundary")
    assert path.get("fill-rule") == "evenodd"
    rings = subpaths(path.get("d"))
    assert len(rings) == 2
    assert path.get("d").count("Z") == 2


def test_multipolygon_parts_are_drawn_in_one_path():
    west = square_around(JACKSON[0] - 0.01, JACKSON[1], 200)
    east = square_around(JACKSON[0] + 0.01, JACKSON[1], 200)
    root = parse(svg.render_svg([svg.Layer(MultiPolygon([west, east]), "boundary", "precinct")]))
    (path,) = paths(root, "boundary")
    left, right = sorted(subpaths(path.get("d")), key=lambda ring: min(x for x, _ in ring))
    assert max(x for x, _ in left) < min(x for x, _ in right)


def test_north_is_up_and_distances_are_to_scale():
    # A 100 m east-west by 200 m north-south rectangle: twice as tall as wide on screen, and north at the top.
    lon, lat = JACKSON
    dlon = 100 / (111_320 * math.cos(math.radians(lat)))
    dlat = 200 / 110_900
    rect = box(lon, lat, lon + dlon, lat + dlat)
    north = Point(lon, lat + dlat)
    root = parse(svg.render_svg([svg.Layer(rect, "boundary"), svg.Layer(north, "place")]))
    (ring,) = subpaths(paths(root, "boundary")[0].get("d"))
    xs, ys = [x for x, _ in ring], [y for _, y in ring]
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    assert height / width == pytest.approx(2.0, rel=0.01)
    circle = next(root.iter(f"{NS}circle"))
    assert float(circle.get("cy")) == pytest.approx(min(ys), abs=0.2)


def test_projection_is_local_metres():
    centre = JACKSON
    moved = svg.project(Point(centre[0], centre[1] + 0.001), centre)
    # 0.001 degrees of latitude near 32.3 N is 110.9 m (WGS84 meridian arc).
    assert moved.x == pytest.approx(0.0, abs=0.01)
    assert moved.y == pytest.approx(110.9, abs=0.2)


def test_antimeridian_split_multipolygon_is_centred_on_the_antimeridian():
    east_part = box(179.995, -16.01, 180.0, -16.0)
    west_part = box(-180.0, -16.01, -179.995, -16.0)
    split = MultiPolygon([east_part, west_part])
    lon, lat = svg.display_centre([split])
    assert abs(lon) == pytest.approx(180.0, abs=1e-6)
    assert lat == pytest.approx(-16.005)
    projected = svg.project(split, (lon, lat))
    minx, miny, maxx, maxy = projected.bounds
    assert maxx - minx == pytest.approx(1070, abs=10)  # 0.01 degrees of longitude at 16 S, not 360 degrees
    assert maxy - miny == pytest.approx(1106, abs=10)


def test_antimeridian_split_multipolygon_renders_as_two_adjacent_halves():
    split = MultiPolygon([box(179.99, 51.0, 180.0, 51.01), box(-180.0, 51.0, -179.99, 51.01)])
    root = parse(svg.render_svg([svg.Layer(split, "boundary", "precinct")]))
    (path,) = paths(root, "boundary")
    halves = sorted(subpaths(path.get("d")), key=lambda ring: min(x for x, _ in ring))
    assert len(halves) == 2
    (left_min, left_max), (right_min, right_max) = ((min(x for x, _ in h), max(x for x, _ in h)) for h in halves)
    assert right_min - left_max == pytest.approx(0, abs=0.5)  # they touch at the antimeridian
    assert left_max - left_min == pytest.approx(right_max - right_min, abs=1)
    # Together they fill the map (a 360-degree blow-up would leave each half a sliver at opposite edges).
    assert right_max - left_min > 200
    bar = next(g for g in root.iter(f"{NS}g") if g.get("class") == "scale-bar")
    assert bar.find(f"{NS}text").text.endswith("ft")  # a few hundred feet, not thousands of miles


def test_a_zone_split_at_the_antimeridian_draws_as_one_round_zone():
    # A 150 ft zone around a door 10 m west of the antimeridian (Fiji): zone_polygon splits it at 180.
    door = (179.9999, -16.5)
    zone = geometry.zone_polygon(geometry.ZoneRule(geometry.Reference(Point(door), door), 150 * 0.3048))
    assert zone.geom_type == "MultiPolygon"
    root = parse(
        svg.render_svg(
            [svg.Layer(zone, "zone-campaigning", "campaigning 150 ft"), svg.Layer(Point(door), "entrance", "door")]
        )
    )
    (path,) = paths(root, "zone-campaigning")
    points = [xy for ring in subpaths(path.get("d")) for xy in ring]
    xs, ys = [x for x, _ in points], [y for _, y in points]
    assert max(xs) - min(xs) == pytest.approx(max(ys) - min(ys), rel=0.01)  # as wide as tall: round, not halves
    square = next(r for r in root.iter(f"{NS}rect") if r.get("class") == "entrance")
    door_x = float(square.get("x")) + float(square.get("width")) / 2
    assert door_x == pytest.approx((min(xs) + max(xs)) / 2, abs=1)


def test_polygons_are_simplified_in_projected_metres_to_keep_the_preview_small():
    # A county-sized circle with 20,000 vertices, like a 1:500k boundary.
    lon, lat = JACKSON
    ring = [
        (lon + 0.3 * math.cos(t) / math.cos(math.radians(lat)), lat + 0.3 * math.sin(t))
        for t in (2 * math.pi * i / 20_000 for i in range(20_000))
    ]
    text = svg.render_svg([svg.Layer(Polygon(ring), "boundary", "county boundary")])
    (path,) = paths(parse(text), "boundary")
    assert len(subpaths(path.get("d"))[0]) < 800
    assert len(text) < 20_000


def test_a_lone_point_gets_a_sensible_scale():
    root = parse(svg.render_svg([svg.Layer(Point(*JACKSON), "place", "polling place", tag="P1")]))
    circle = next(root.iter(f"{NS}circle"))
    assert float(circle.get("cx")) == pytest.approx(160)
    assert float(circle.get("cy")) == pytest.approx(160)


def test_legend_has_one_row_per_kind_and_label():
    layers = [svg.Layer(Point(JACKSON[0] + i * 1e-4, JACKSON[1]), "place", "polling place") for i in range(5)]
    root = parse(svg.render_svg(layers))
    legend = next(g for g in root.iter(f"{NS}g") if g.get("class") == "legend")
    assert [t.text for t in legend.iter(f"{NS}text")] == ["polling place"]
    assert len(list(root.iter(f"{NS}circle"))) == 5 + 1  # five places and the legend symbol


def test_nothing_to_draw_is_still_a_valid_svg():
    root = parse(svg.render_svg([svg.Layer(Polygon(), "boundary", "empty")]))
    assert [t.text for t in root.iter(f"{NS}text")] == ["Nothing to draw"]


def test_a_non_finite_coordinate_is_refused():
    with pytest.raises(ValueError, match="finite"):
        svg.render_svg([svg.Layer(Point(math.nan, 32.3), "place")])

"""Small static SVG previews of lon/lat geometries (precinct boundaries, polling places, entrances, zones).

Pure: shapely, numpy and the rest of ``polling.geometry``; no Django import. The output is a standalone SVG
document with no scripts and no external resources, and every piece of caller text in it is XML-escaped, so it can
be embedded in a page as is.

Display only. Geometries are projected into a local azimuthal-equidistant projection centred on their common centre
(``projection.local_projection``), so distances on the picture are true to scale near the centre and a shape split at
the antimeridian draws as one piece rather than two pieces 360 degrees apart. Nothing here decides compliance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from polling.geometry.projection import local_projection
from polling.geometry.units import FOOT_M, MILE_M

SVG_NS = "http://www.w3.org/2000/svg"

#: Smallest extent drawn, so a lone point or a tiny building still gets a sensible scale.
MIN_EXTENT_M = 40.0
#: Simplification tolerance as a fraction of the drawn extent (1/1000 is a third of a pixel at 320 px).
SIMPLIFY_FRACTION = 1 / 1000
PAD_PX = 14
LEGEND_ROW_PX = 16
MAX_LEGEND_ROWS = 8
MAX_LABEL_CHARS = 58
MAX_TAG_CHARS = 16


@dataclass(frozen=True)
class Style:
    """How one kind of layer is drawn. Kinds differ in dash pattern or marker shape as well as in colour."""

    stroke: str
    fill: str = "none"
    stroke_width: float = 1.5
    dash: str = ""
    fill_opacity: float = 1.0
    marker: str = ""  # "circle" or "square" for point layers
    marker_px: float = 4.0


STYLES: dict[str, Style] = {
    "boundary": Style(stroke="#1f4e79", fill="#cfe2f3", stroke_width=1.5, fill_opacity=0.55),
    "outline": Style(stroke="#6c7a89", stroke_width=0.6),
    "building": Style(stroke="#3d3d3d", fill="#b8b8b8", stroke_width=1.0, fill_opacity=0.85),
    "zone-campaigning": Style(stroke="#b03a2e", fill="#b03a2e", stroke_width=1.6, dash="8 4", fill_opacity=0.07),
    "zone-loitering": Style(stroke="#6c3483", fill="#6c3483", stroke_width=1.6, dash="2 3", fill_opacity=0.10),
    "zone": Style(stroke="#ba4a00", stroke_width=1.4, dash="6 2 1 2"),
    "place": Style(stroke="#ffffff", fill="#111111", stroke_width=1.5, marker="circle", marker_px=4.5),
    "entrance": Style(stroke="#111111", fill="#f4d03f", stroke_width=1.0, marker="square", marker_px=3.0),
    "entrance-unused": Style(stroke="#111111", fill="#ffffff", stroke_width=1.0, marker="square", marker_px=3.0),
}
DEFAULT_STYLE = Style(stroke="#333333", stroke_width=1.0)


@dataclass(frozen=True)
class Layer:
    """One geometry to draw.

    ``kind`` picks the style (see ``STYLES``) and the CSS class; ``label`` is its legend text (layers with the same
    kind and label share one legend row); ``tag`` is short text written beside a point on the map.
    """

    geometry: BaseGeometry
    kind: str
    label: str = ""
    tag: str = ""


# --- Projection -------------------------------------------------------------------------------------------------


def display_centre(geoms: Iterable[BaseGeometry]) -> tuple[float, float]:
    """Centre (lon, lat) of the smallest longitude arc and latitude range covering every coordinate.

    The longitude arc is the circle minus its largest gap between coordinates, so shapes on both sides of the
    antimeridian are centred near ±180 rather than near 0.
    """
    coords = np.concatenate(
        [shapely.get_coordinates(g) for g in geoms if g is not None and not g.is_empty] or [np.empty((0, 2))]
    )
    if len(coords) == 0:
        raise ValueError("nothing to centre on")
    if not np.isfinite(coords).all():
        raise ValueError("a coordinate is not a finite number")
    lats = coords[:, 1]
    lons = np.unique(np.mod(coords[:, 0] + 180.0, 360.0) - 180.0)
    if len(lons) == 1:
        centre_lon = float(lons[0])
    else:
        gaps = np.diff(np.append(lons, lons[0] + 360.0))
        widest = int(np.argmax(gaps))
        start = lons[(widest + 1) % len(lons)]  # the arc starts after the widest gap and runs east
        span = 360.0 - float(gaps[widest])
        centre_lon = float(np.mod(start + span / 2 + 180.0, 360.0) - 180.0)
    centre_lat = float((lats.min() + lats.max()) / 2)
    return centre_lon, centre_lat


def project(geom: BaseGeometry, centre: tuple[float, float]) -> BaseGeometry:
    """``geom`` (lon/lat) in metres of the local azimuthal-equidistant projection centred on ``centre``, y up."""
    forward, _inverse = local_projection(*centre)
    return shapely.transform(geom, lambda x, y: forward.transform(x, y), interleaved=False)


# --- Drawing ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """Projected metres → SVG pixels (y flipped: SVG's y grows downwards)."""

    minx: float
    maxy: float
    scale: float  # px per metre
    ox: float
    oy: float

    def xy(self, coords: np.ndarray) -> np.ndarray:
        out = np.empty_like(coords)
        out[:, 0] = self.ox + (coords[:, 0] - self.minx) * self.scale
        out[:, 1] = self.oy + (self.maxy - coords[:, 1]) * self.scale
        return out


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _ring_path(coords: np.ndarray, frame: _Frame, close: bool) -> str:
    pts = np.round(frame.xy(coords[:, :2]), 1)
    if len(pts) > 1:  # drop points that round onto the previous one
        keep = np.ones(len(pts), dtype=bool)
        keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)
        pts = pts[keep]
    if len(pts) == 0:
        return ""
    head = f"M{_num(pts[0, 0])} {_num(pts[0, 1])}"
    body = "".join(f"L{_num(x)} {_num(y)}" for x, y in pts[1:])
    return head + body + ("Z" if close else "")


def _path_data(geom: BaseGeometry, frame: _Frame) -> str:
    """Path data for every polygon ring and line in ``geom`` (points are drawn as markers instead)."""
    parts: list[str] = []
    for part in shapely.get_parts(geom):
        kind = part.geom_type
        if kind == "Polygon":
            parts.append(_ring_path(np.asarray(part.exterior.coords), frame, close=True))
            parts.extend(_ring_path(np.asarray(r.coords), frame, close=True) for r in part.interiors)
        elif kind in ("LineString", "LinearRing"):
            parts.append(_ring_path(np.asarray(part.coords), frame, close=False))
        elif kind in ("MultiPolygon", "MultiLineString", "GeometryCollection"):
            parts.append(_path_data(part, frame))
    return "".join(p for p in parts if p)


def _points(geom: BaseGeometry) -> list[tuple[float, float]]:
    return [
        (float(p.x), float(p.y))
        for p in shapely.get_parts(shapely.get_parts(geom))
        if p.geom_type == "Point" and not p.is_empty
    ]


def _style_attrs(style: Style, *, fill: bool = True) -> str:
    attrs = [f"stroke={quoteattr(style.stroke)}", f'stroke-width="{_num(style.stroke_width)}"']
    if fill and style.fill != "none":
        attrs.append(f"fill={quoteattr(style.fill)}")
        if style.fill_opacity < 1:
            attrs.append(f'fill-opacity="{style.fill_opacity:g}"')
    else:
        attrs.append('fill="none"')
    if style.dash:
        attrs.append(f"stroke-dasharray={quoteattr(style.dash)}")
    return " ".join(attrs)


def _marker(style: Style, x: float, y: float, css: str) -> str:
    r = style.marker_px
    if style.marker == "square":
        return (
            f'<rect class={css} x="{_num(x - r)}" y="{_num(y - r)}" width="{_num(2 * r)}" height="{_num(2 * r)}" '
            f"{_style_attrs(style)}/>"
        )
    return f'<circle class={css} cx="{_num(x)}" cy="{_num(y)}" r="{_num(r)}" {_style_attrs(style)}/>'


_Box = tuple[float, float, float, float]
#: Where a tag may sit relative to its point: (dx, dy of the text baseline, text-anchor), tried in order.
_TAG_SPOTS = ((7, -5, "start"), (7, 13, "start"), (-7, -5, "end"), (-7, 13, "end"), (0, -9, "middle"))


def _place_tags(tags: list[tuple[float, float, str]], taken: list[_Box], size: int) -> list[str]:
    """Text elements for point tags, each at the first spot beside its point that overlaps no marker or earlier
    tag (widths estimated at 6.5 px a character); the first spot when none is free."""
    taken = list(taken)
    out = []
    for px, py, text in tags:
        width = 6.5 * len(text)
        choice = None
        for dx, dy, anchor in _TAG_SPOTS:
            x, y = px + dx, py + dy
            left = x if anchor == "start" else x - width if anchor == "end" else x - width / 2
            box = (left, y - 10, left + width, y + 2)
            inside = box[0] >= 0 and box[1] >= 0 and box[2] <= size and box[3] <= size
            if inside and not any(_overlaps(box, other) for other in taken):
                choice = (x, y, anchor, box)
                break
        if choice is None:
            dx, dy, anchor = _TAG_SPOTS[0]
            choice = (px + dx, py + dy, anchor, (px + dx, py + dy - 10, px + dx + width, py + dy + 2))
        x, y, anchor, box = choice
        taken.append(box)
        out.append(
            f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" fill="#111111" stroke="#ffffff" '
            f'stroke-width="3" paint-order="stroke">{escape(text)}</text>'
        )
    return out


def _overlaps(a: _Box, b: _Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _truncate(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nice_scale(max_m: float) -> tuple[float, str]:
    """The longest round distance (in feet or miles) not longer than ``max_m``: (metres, label)."""
    choices = [(ft * FOOT_M, f"{ft:,} ft") for ft in (10, 20, 50, 100, 200, 500, 1000, 2000)]
    choices += [(mi * MILE_M, f"{mi:,} mi") for mi in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)]
    best = choices[0]
    for metres, label in choices:
        if metres <= max_m:
            best = (metres, label)
    return best


def _legend_symbol(style: Style, x: float, y: float) -> str:
    if style.marker:
        return _marker(style, x + 11, y, '"legend-symbol"')
    if style.fill == "none" and not style.dash:
        return f'<line x1="{_num(x)}" y1="{_num(y)}" x2="{_num(x + 22)}" y2="{_num(y)}" {_style_attrs(style)}/>'
    return f'<rect x="{_num(x)}" y="{_num(y - 5)}" width="22" height="10" {_style_attrs(style)}/>'


def render_svg(layers: Sequence[Layer], *, size: int = 320, title: str = "", simplify: bool = True) -> str:
    """An SVG document (text) drawing ``layers`` in order, with a scale bar and a legend below the map.

    Layers are drawn in the order given (put areas first and points last). Polygon rings use ``fill-rule="evenodd"``
    so holes stay empty. Raises ``ValueError`` for a non-finite coordinate.
    """
    drawn = [layer for layer in layers if layer.geometry is not None and not layer.geometry.is_empty]
    legend: list[tuple[str, str]] = []
    for layer in drawn:
        key = (layer.kind, _truncate(layer.label, MAX_LABEL_CHARS))
        if layer.label and key not in legend:
            legend.append(key)
    hidden_rows = max(0, len(legend) - MAX_LEGEND_ROWS)
    legend = legend[:MAX_LEGEND_ROWS]
    rows = len(legend) + (1 if hidden_rows else 0)
    height = size + (rows * LEGEND_ROW_PX + 6 if rows else 0)

    out = [
        f'<svg xmlns="{SVG_NS}" width="{size}" height="{height}" viewBox="0 0 {size} {height}" role="img" '
        f'font-family="sans-serif" font-size="11" class="polling-preview">',
        f"<title>{escape(_truncate(title or 'Map preview', 200))}</title>",
        f'<rect x="0" y="0" width="{size}" height="{size}" fill="#ffffff" stroke="#999999" stroke-width="1"/>',
    ]
    if not drawn:
        out.append(
            f'<text x="{size / 2:g}" y="{size / 2:g}" text-anchor="middle" fill="#555555">Nothing to draw</text>'
        )
        out.append("</svg>")
        return "".join(out)

    centre = display_centre(layer.geometry for layer in drawn)
    projected = [project(layer.geometry, centre) for layer in drawn]
    for geom in projected:
        if not np.isfinite(shapely.get_coordinates(geom)).all():
            raise ValueError("a coordinate could not be projected for display")
    bounds = np.array([g.bounds for g in projected])
    minx, miny = bounds[:, 0].min(), bounds[:, 1].min()
    maxx, maxy = bounds[:, 2].max(), bounds[:, 3].max()
    extent = max(maxx - minx, maxy - miny, MIN_EXTENT_M)
    if simplify:
        tolerance = extent * SIMPLIFY_FRACTION
        projected = [
            shapely.simplify(g, tolerance, preserve_topology=True) if g.geom_type != "Point" else g for g in projected
        ]
    inner = size - 2 * PAD_PX
    scale = inner / extent
    frame = _Frame(
        minx=float(minx),
        maxy=float(maxy),
        scale=scale,
        ox=PAD_PX + (inner - (maxx - minx) * scale) / 2,
        oy=PAD_PX + (inner - (maxy - miny) * scale) / 2,
    )

    tags: list[tuple[float, float, str]] = []
    markers: list[_Box] = []
    for layer, geom in zip(drawn, projected, strict=True):
        style = STYLES.get(layer.kind, DEFAULT_STYLE)
        css = quoteattr(_css_class(layer.kind))
        data = _path_data(geom, frame)
        if data:
            out.append(f'<path class={css} d="{data}" fill-rule="evenodd" {_style_attrs(style)}/>')
        marker_style = style if style.marker else STYLES["place"]
        for x, y in _points(geom):
            ((px, py),) = frame.xy(np.array([[x, y]]))
            out.append(_marker(marker_style, px, py, css))
            r = marker_style.marker_px
            markers.append((px - r, py - r, px + r, py + r))
            if layer.tag:
                tags.append((px, py, _truncate(layer.tag, MAX_TAG_CHARS)))
    out.extend(_place_tags(tags, markers, size))

    bar_m, bar_label = _nice_scale(inner * 0.4 / scale)
    bar_px = bar_m * scale
    bx, by = size - PAD_PX - bar_px, size - 8
    out.append(
        f'<g class="scale-bar"><rect x="{_num(bx - 4)}" y="{_num(by - 14)}" width="{_num(bar_px + 8)}" height="18" '
        f'fill="#ffffff" fill-opacity="0.8"/>'
        f'<path d="M{_num(bx)} {_num(by - 4)}V{_num(by)}H{_num(bx + bar_px)}V{_num(by - 4)}" fill="none" '
        f'stroke="#111111" stroke-width="1.2"/>'
        f'<text x="{_num(bx + bar_px / 2)}" y="{_num(by - 5)}" text-anchor="middle">{escape(bar_label)}</text></g>'
    )

    if rows:
        out.append('<g class="legend">')
        y = size + 6 + LEGEND_ROW_PX / 2
        for kind, label in legend:
            out.append(_legend_symbol(STYLES.get(kind, DEFAULT_STYLE), 8, y))
            out.append(f'<text x="38" y="{_num(y + 4)}">{escape(label)}</text>')
            y += LEGEND_ROW_PX
        if hidden_rows:
            out.append(f'<text x="38" y="{_num(y + 4)}" fill="#555555">and {hidden_rows} more</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _css_class(kind: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in kind)
    return f"zone {safe}" if safe.startswith("zone") else safe


__all__ = ["STYLES", "Layer", "Style", "display_centre", "project", "render_svg"]

"""Exact buffer geometry for polling places: zones, geodesic distances and GeoJSON validation.

The exactness of every buffer lives here alone. Pure package: stdlib, numpy, shapely and pyproj only, no Django and
nothing of the apps (the import contract checks this), so it can be tested and reused without settings.

Promises
--------
* Coordinates in and out are WGS84 longitude, latitude in degrees (GeoJSON order, RFC 7946).
* Distances are in metres on the WGS84 ellipsoid; one international foot is exactly 0.3048 m.
* Nothing is ever measured or buffered in degrees or in Web Mercator. Exact distances come from Karney's geodesic
  algorithms (``pyproj.Geod``, accurate to about 15 nanometres); zones are built in an azimuthal equidistant (AEQD)
  projection centred on the polling place, where distances are exact from the centre and distorted by less than a
  micrometre over the few hundred metres a zone spans.
* A decision "is this point inside the zone" uses the exact geodesic distance to the reference, not the drawn zone.

Modules, from the bottom up: ``errors`` (GeometryError and its wording), ``units`` (feet and metres),
``coordinates`` (lon/lat validation and wrapping), ``earth`` (the WGS84 ellipsoid), ``validity`` (usable shapes and
repair), ``geojson`` (GeoJSON in and out), ``projection`` (the local AEQD), ``rules`` (Reference, ZoneRule),
``zones`` (zone polygons), ``distance`` (geodesic distance and classification); ``svg`` draws previews.

Main entry points, re-exported here: :func:`parse_geojson` / :func:`check_geometry` (validate input),
:class:`Reference` and :class:`ZoneRule` (what a rule measures from, and how far), :func:`zone_polygon` (the zone to
draw), :func:`geodesic_distance_m` and :func:`classify` (is a GPS fix inside the zone).
"""

from polling.geometry.coordinates import check_lonlat
from polling.geometry.distance import (
    Classification,
    Status,
    classify,
    classify_distance,
    farthest_vertex_m,
    geodesic_distance_m,
)
from polling.geometry.errors import GeometryError
from polling.geometry.geojson import MAX_POSITIONS, parse_geojson, to_geojson, to_geojson_text
from polling.geometry.projection import local_projection
from polling.geometry.rules import Reference, ZoneRule
from polling.geometry.units import FOOT_M, feet_to_metres, metres_to_feet
from polling.geometry.validity import SUPPORTED_TYPES, check_geometry
from polling.geometry.zones import MAX_ZONE_REACH_M, quad_segs_for, zone_polygon

__all__ = [
    "FOOT_M",
    "MAX_POSITIONS",
    "MAX_ZONE_REACH_M",
    "SUPPORTED_TYPES",
    "Classification",
    "GeometryError",
    "Reference",
    "Status",
    "ZoneRule",
    "check_geometry",
    "check_lonlat",
    "classify",
    "classify_distance",
    "farthest_vertex_m",
    "feet_to_metres",
    "geodesic_distance_m",
    "local_projection",
    "metres_to_feet",
    "parse_geojson",
    "quad_segs_for",
    "to_geojson",
    "to_geojson_text",
    "zone_polygon",
]

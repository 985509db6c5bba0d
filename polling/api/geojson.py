"""GeoJSON (RFC 7946) Features for the public API: lon/lat, counter-clockwise exteriors, the object's id as the
Feature ``id`` and its ``code`` among the properties, fixed precision."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from polling import geometry
from polling.geography.spatial import GeographyIndex
from polling.geography.zones import Zone
from polling.models import PollingPlace, Precinct

#: 6 decimals ≈ 0.1 m: the precision boundaries are published at.
BOUNDARY_PRECISION = 6
#: 7 decimals ≈ 1 cm for points (polling places, entrances).
POINT_PRECISION = 7
#: 8 decimals ≈ 1 mm for zone outlines, so rounding adds well under the 1 cm the zones are drawn to.
ZONE_PRECISION = 8
_M_PER_DEG = 111_320.0

logger = logging.getLogger(__name__)


def collection(features: list[dict[str, Any]], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, **members}


def simplified(geoms: Sequence[BaseGeometry], tolerance_m: float) -> list[BaseGeometry]:
    """Simplify boundaries that tile (precincts, counties) together, so neighbours keep a common edge."""
    if tolerance_m <= 0 or not geoms:
        return list(geoms)
    tolerance = tolerance_m / _M_PER_DEG
    try:
        result = shapely.coverage_simplify(np.asarray(geoms, dtype=object), tolerance)
    except shapely.errors.GEOSException:
        result = None
    if result is None or not all(shapely.is_valid(result)) or any(shapely.is_empty(result)):
        # Not a valid coverage (overlapping input): simplify one by one, keeping each valid.
        result = shapely.simplify(np.asarray(geoms, dtype=object), tolerance, preserve_topology=True)
    return list(result)


def county_properties(county: Any) -> dict[str, Any]:
    return {"fips": county.fips, "name": county.name}


def precinct_feature(precinct: Precinct, boundary: BaseGeometry | None = None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": precinct.pk,
        "geometry": geometry.to_geojson(boundary or precinct.boundary, precision=BOUNDARY_PRECISION),
        "properties": {
            "code": precinct.code,
            "name": precinct.name,
            "county": county_properties(precinct.county),
        },
    }


def county_feature(county: Any, boundary: BaseGeometry | None = None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": county.pk,
        "geometry": geometry.to_geojson(boundary or county.boundary, precision=BOUNDARY_PRECISION),
        "properties": {"code": county.fips, **county_properties(county), "state": county.jurisdiction.code},
    }


def _round(value: float) -> float:
    return round(float(value), POINT_PRECISION)


def entrance_dict(entrance: Any) -> dict[str, Any]:
    return {
        "name": entrance.name,
        "lon": _round(entrance.location.x),
        "lat": _round(entrance.location.y),
        "accessible": entrance.accessible,
        "in_use": entrance.in_use,
    }


def place_summary(place: PollingPlace) -> dict[str, Any]:
    """A polling place as the lookup answers it: plain members, not a Feature (expects its entrances prefetched)."""
    return {
        "id": place.pk,
        "code": place.code,
        "name": place.name,
        "address": place.address,
        # A place whose coordinates are not known yet is shown by its address alone.
        "lon": round(place.location.x, POINT_PRECISION) if place.location is not None else None,
        "lat": round(place.location.y, POINT_PRECISION) if place.location is not None else None,
        "accessibility_notes": place.accessibility_notes,
        "entrances": [entrance_dict(e) for e in place.entrances.all()],
    }


def place_feature(place: PollingPlace, *, detail: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "code": place.code,
        "name": place.name,
        "address": place.address,
        "kinds": place.kinds,
        "county": county_properties(place.county),
        "entrances": [entrance_dict(e) for e in place.entrances.all()],
    }
    if detail:
        properties["accessibility_notes"] = place.accessibility_notes
        properties["building"] = (
            geometry.to_geojson(place.building, precision=POINT_PRECISION) if place.building is not None else None
        )
    return {
        "type": "Feature",
        "id": place.pk,
        "geometry": geometry.to_geojson(place.location, precision=POINT_PRECISION),
        "properties": properties,
    }


def zone_feature(zone: Zone, polygon: BaseGeometry | None) -> dict[str, Any]:
    rule = zone.rule
    return {
        "type": "Feature",
        "id": f"{zone.polling_place_id}-{rule.activity}",
        "geometry": geometry.to_geojson(polygon, precision=ZONE_PRECISION) if polygon is not None else None,
        "properties": {
            "polling_place": zone.polling_place_id,
            "activity": rule.activity,
            "distance_ft": float(rule.distance_ft),
            "distance_m": round(rule.distance_m, 4),
            "measured_from": rule.measured_from,
            "reference": zone.reference_kind,
            "approximate": zone.approximate,
            "citation": rule.citation,
            # The local dates the zone is in force, or null for every day (``zones.days_in_force``).
            "applies_on": None if zone.applies_on is None else [d.isoformat() for d in zone.applies_on],
            "label": f"No {rule.activity} within {float(rule.distance_ft):g} ft of {_reference_label(zone)}",
        },
    }


def _reference_label(zone: Zone) -> str:
    return {"entrances": "any entrance", "building": "the building", "location": "the polling place"}[
        zone.reference_kind
    ]


def zone_features(index: GeographyIndex, zones: list[Zone]) -> list[dict[str, Any]]:
    """Zone Features; a zone that cannot be drawn (data beyond what the geometry supports) is listed with a null
    geometry and the reason, never a server error that hides every other zone."""
    features = []
    for zone in zones:
        try:
            polygon = index.zone_polygon(zone)
        except geometry.GeometryError as exc:
            logger.warning(
                "zone of polling place %s (%s) cannot be drawn: %s", zone.polling_place_id, zone.rule.activity, exc
            )
            feature = zone_feature(zone, None)
            feature["properties"]["error"] = {"detail": str(exc), "code": exc.code}
            features.append(feature)
            continue
        features.append(zone_feature(zone, polygon))
    return features

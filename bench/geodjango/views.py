"""``GET /lookup/?lon=&lat=``: the precinct covering the point (``ST_Covers``, GiST) with its polling place, then
the place's entrances: two queries, the straightforward GeoDjango way."""

from __future__ import annotations

from django.contrib.gis.geos import Point
from django.http import HttpRequest, JsonResponse

from bench.geodjango.models import Precinct


def lookup(request: HttpRequest) -> JsonResponse:
    try:
        lon, lat = float(request.GET["lon"]), float(request.GET["lat"])
    except (KeyError, ValueError):
        return JsonResponse({"detail": "lon and lat are required numbers.", "code": "invalid"}, status=400)
    point = Point(lon, lat, srid=4326)
    precinct = (
        Precinct.objects.filter(boundary__covers=point)
        .select_related("polling_place")
        .defer("boundary")
        .order_by("county_fips", "code")
        .first()
    )
    if precinct is None:
        return JsonResponse({"detail": "No precinct contains this point.", "code": "no_precinct"}, status=404)
    place = precinct.polling_place
    return JsonResponse(
        {
            "precinct": {"id": precinct.pk, "code": precinct.code, "name": precinct.name},
            "county": {"id": precinct.county_id, "fips": precinct.county_fips, "name": precinct.county_name},
            "polling_place": None
            if place is None
            else {
                "id": place.pk,
                "name": place.name,
                "address": place.address,
                "location": {"type": "Point", "coordinates": [place.location.x, place.location.y]},
                "entrances": [
                    {"name": e.name, "accessible": e.accessible, "coordinates": [e.location.x, e.location.y]}
                    for e in place.entrances.order_by("name")
                ],
            },
        }
    )

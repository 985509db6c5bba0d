"""Admin forms that take a point as longitude and latitude instead of GeoJSON."""

from __future__ import annotations

from typing import Any

from django import forms
from shapely.geometry import Point

from polling import geometry
from polling.geography.admin.base import geometry_or_none
from polling.models import Entrance, PollingPlace


class PointForm(forms.ModelForm):
    """A point typed as longitude and latitude (WGS84 decimal degrees) instead of GeoJSON."""

    #: The model's point field that ``lon``/``lat`` stand in for (leave it out of the form's fields).
    point_field = "location"

    # No min/max on the fields: geometry.check_lonlat's messages say more (e.g. that a pair looks swapped).
    lon = forms.FloatField(
        label="Longitude",
        widget=forms.NumberInput(attrs={"step": "any"}),
        help_text="WGS84 decimal degrees, west negative (e.g. -90.1848).",
    )
    lat = forms.FloatField(
        label="Latitude",
        widget=forms.NumberInput(attrs={"step": "any"}),
        help_text="WGS84 decimal degrees (e.g. 32.2988).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        point = geometry_or_none(getattr(self.instance, self.point_field, None))
        if point is not None:
            self.initial.setdefault("lon", float(point.x))
            self.initial.setdefault("lat", float(point.y))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        lon, lat = cleaned.get("lon"), cleaned.get("lat")
        if lon is None or lat is None:
            return cleaned  # the field errors already say what is missing
        try:
            geometry.check_lonlat(lon, lat)
            point = Point(lon, lat)
            geometry.check_geometry(point)
        except geometry.GeometryError as exc:
            field = {"longitude_out_of_range": "lon", "latitude_out_of_range": "lat"}.get(exc.code)
            self.add_error(field, forms.ValidationError(str(exc), code=exc.code))
            return cleaned
        setattr(self.instance, self.point_field, point)
        return cleaned


class EntranceForm(PointForm):
    class Meta:
        model = Entrance
        fields = ("polling_place", "name", "lon", "lat", "accessible", "in_use")


class PollingPlaceForm(PointForm):
    class Meta:
        model = PollingPlace
        fields = ("county", "code", "name", "address", "lon", "lat", "building", "accessibility_notes")

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

    #: Whether the point may be left out (both fields empty): the model's point field is then set to None.
    point_optional = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.point_optional:
            self.fields["lon"].required = self.fields["lat"].required = False
        point = geometry_or_none(getattr(self.instance, self.point_field, None))
        if point is not None:
            self.initial.setdefault("lon", float(point.x))
            self.initial.setdefault("lat", float(point.y))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        lon, lat = cleaned.get("lon"), cleaned.get("lat")
        if self.point_optional and lon is None and lat is None and not (self.has_error("lon") or self.has_error("lat")):
            setattr(self.instance, self.point_field, None)
            return cleaned
        if self.point_optional and (lon is None) != (lat is None) and not self.errors:
            missing = "lat" if lat is None else "lon"
            self.add_error(missing, forms.ValidationError("Give both longitude and latitude, or neither.", "partial"))
            return cleaned
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
    """Coordinates may be left empty while they are not known: the place is then shown by its address only."""

    point_optional = True

    class Meta:
        model = PollingPlace
        fields = (
            "county",
            "code",
            "name",
            "address",
            "is_election_day",
            "is_early_voting",
            "is_drop_box",
            "lon",
            "lat",
            "building",
            "accessibility_notes",
        )

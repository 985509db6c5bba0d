"""Portable geometry storage: WKB in a binary column plus an indexed bounding box.

The same bytes on SQLite and PostgreSQL, no spatial extension needed, and shapely geometries round-trip exactly
(WKB keeps every IEEE double). Spatial queries are answered by an in-memory index built from these rows; the bounding
box columns let the database pre-filter by area where a query must run in SQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import shapely
from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from shapely.geometry.base import BaseGeometry

from polling import geometry

if TYPE_CHECKING:
    # django-stubs types a field by what it sets and what it gets: here a shapely geometry both ways.
    _GeometryBase = models.BinaryField[BaseGeometry | None, BaseGeometry]
    _BoundBase = models.FloatField[float | None, float]
else:
    _GeometryBase = models.BinaryField
    _BoundBase = models.FloatField


class GeometryField(_GeometryBase):
    """A shapely geometry in WGS84 lon/lat, stored as little-endian 2D WKB."""

    description = "Geometry (WKB, WGS84 lon/lat)"
    # What django-stubs' plugin reads for queries (``values_list`` and friends): a shapely geometry.
    _pyi_private_set_type: BaseGeometry | None
    _pyi_private_get_type: BaseGeometry

    def __init__(self, *args: Any, geom_types: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.geom_types = tuple(geom_types)
        kwargs.setdefault("editable", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.geom_types:
            kwargs["geom_types"] = self.geom_types
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def get_default(self) -> Any:
        # BinaryField defaults to b""; an unsaved instance has no geometry until one is given.
        return super(models.BinaryField, self).get_default() if self.has_default() else None

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> BaseGeometry | None:
        if value is None:
            return None
        return shapely.from_wkb(bytes(value))

    def to_python(self, value: Any) -> BaseGeometry | None:
        if value is None or isinstance(value, BaseGeometry):
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            return shapely.from_wkb(bytes(value))
        if isinstance(value, str | dict):
            try:
                return geometry.parse_geojson(value, allowed_types=self.geom_types or None)
            except geometry.GeometryError as exc:
                raise ValidationError(str(exc), code=exc.code) from None
        raise ValidationError("Enter a GeoJSON geometry.", code="invalid_geometry")

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, BaseGeometry):
            return shapely.to_wkb(value, output_dimension=2, byte_order=1, include_srid=False)
        return super().get_prep_value(value)

    def validate(self, value: Any, model_instance: Any) -> None:
        super().validate(value, model_instance)
        if value is None:
            return
        if self.geom_types and value.geom_type not in self.geom_types:
            raise ValidationError(
                "Expected a %(expected)s, got a %(got)s.",
                code="wrong_geometry_type",
                params={"expected": " or ".join(self.geom_types), "got": value.geom_type},
            )
        try:
            geometry.check_geometry(value)
        except geometry.GeometryError as exc:
            raise ValidationError(str(exc), code=exc.code) from None

    def value_to_string(self, obj: Any) -> str:
        value = self.value_from_object(obj)
        return "" if value is None else geometry.to_geojson_text(value)

    def formfield(self, **kwargs: Any) -> forms.Field | None:
        # Skip BinaryField.formfield (it offers no form field): the GeoJSON text field edits the geometry.
        return super(models.BinaryField, self).formfield(
            **{"form_class": GeoJSONFormField, "geom_types": self.geom_types, **kwargs}
        )


class BoundField(_BoundBase):
    """One side of the bounding box of the model's geometry (named by ``geometry_field_name`` on the model),
    kept in step on every save.

    Computed in ``pre_save`` so the stored box can never disagree with the stored geometry (``QuerySet.update``
    bypasses it: update geometry through the model or a service, never in bulk SQL).
    """

    _SIDES = {"west": 0, "south": 1, "east": 2, "north": 3}

    def __init__(self, *args: Any, side: str = "", **kwargs: Any) -> None:
        if side not in self._SIDES:
            raise ValueError(f"side must be one of {sorted(self._SIDES)}")
        self.side = side
        kwargs.setdefault("editable", False)
        kwargs.setdefault("null", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["side"] = self.side
        kwargs.pop("editable", None)
        kwargs.pop("null", None)
        return name, path, args, kwargs

    def pre_save(self, model_instance: Any, add: bool) -> float | None:
        geom = getattr(model_instance, model_instance.geometry_field_name)
        value = None if geom is None or geom.is_empty else float(geom.bounds[self._SIDES[self.side]])
        setattr(model_instance, self.attname, value)
        return value


class GeoJSONWidget(forms.Textarea):
    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"rows": 8, "cols": 80, "spellcheck": "false", **(attrs or {})})

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, BaseGeometry):
            return geometry.to_geojson_text(value, indent=None)
        text: str | None = super().format_value(value)
        return text


class GeoJSONFormField(forms.CharField):
    """Geometry typed or pasted as GeoJSON; errors are the geometry module's plain-language messages."""

    widget = GeoJSONWidget

    def __init__(self, *, geom_types: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.geom_types = geom_types
        kwargs.pop("max_length", None)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, BaseGeometry):
            return geometry.to_geojson_text(value)
        return value

    def to_python(self, value: Any) -> BaseGeometry | None:
        if isinstance(value, BaseGeometry):
            return value
        text = super().to_python(value)
        if not text:
            return None
        try:
            return geometry.parse_geojson(text, allowed_types=self.geom_types or None)
        except geometry.GeometryError as exc:
            raise ValidationError(str(exc), code=exc.code) from None

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            new = self.to_python(data)
        except ValidationError:
            return True
        if initial is None or new is None:
            return initial is not new
        return not shapely.equals_exact(initial, new, tolerance=0)

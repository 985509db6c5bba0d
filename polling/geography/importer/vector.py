"""Reading Shapefiles (plain or zipped) and GeoPackages for the importer, in any projection.

Why pyogrio: its wheels bundle GDAL, so one well-kept library reads ``.shp`` (with its ``.dbf``/``.prj``/``.cpg``),
a zipped shapefile (GDAL's ``/vsizip/``) and GeoPackage layers, and hands back the layer's CRS; pyshp would read
only shapefiles and leave GeoPackage to hand-written SQLite + GPKG-blob parsing.

Each feature becomes the same GeoJSON-like dict the GeoJSON reader yields, after reprojection to WGS84 with pyproj,
so validation, repair and the all-or-nothing rule stay in one place (``parse`` and ``polling.geometry``). Only
coordinates are transformed here; nothing is measured or buffered in degrees.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pyogrio.errors
import pyproj
import pyproj.network
import shapely
from numpy.typing import NDArray
from pyproj.exceptions import CRSError
from shapely.geometry import mapping as shapely_mapping

from polling.geography.importer.parse import readable_size
from polling.geography.importer.rows import Collector

#: File name endings read as vector files; anything else is GeoJSON.
VECTOR_SUFFIXES = (".shp", ".zip", ".gpkg")
WGS84 = pyproj.CRS.from_epsg(4326)


@dataclass(frozen=True)
class VectorOptions:
    """How to read a vector file: which GeoPackage layer, which of its fields hold our properties
    (``mapping``: ours → theirs), and the CRS of a file that declares none."""

    layer: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    crs: str | None = None


def is_vector(path: Path) -> bool:
    return path.suffix.lower() in VECTOR_SUFFIXES


def _dataset(path: Path, label: str, errors: Collector) -> str | None:
    """The GDAL name of the data: the file itself, or the one shapefile inside a zip."""
    if path.suffix.lower() != ".zip":
        return str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            shps = [n for n in archive.namelist() if n.lower().endswith(".shp") and not n.startswith("__MACOSX")]
    except (zipfile.BadZipFile, OSError) as exc:
        errors.add(label, None, "file", f"is not a readable zip archive: {exc}")
        return None
    if len(shps) != 1:
        found = ", ".join(shps) if shps else "none"
        errors.add(label, None, "file", f"must contain exactly one .shp shapefile (found: {found})")
        return None
    return f"/vsizip/{path.resolve()}/{shps[0]}"


def _layer(dataset: str, path: Path, label: str, errors: Collector, wanted: str | None) -> str | None:
    """The layer to read: ``--layer`` or, in a GeoPackage, its only layer; None for a shapefile."""
    names = [str(name) for name, _type in pyogrio.list_layers(dataset)]
    if path.suffix.lower() != ".gpkg":
        return None
    if wanted is not None:
        if wanted not in names:
            errors.add(
                label, None, "layer", f"{wanted!r} is not a layer of this GeoPackage (layers: {', '.join(names)})"
            )
            return None
        return wanted
    if len(names) != 1:
        errors.add(label, None, "layer", f"the GeoPackage has {len(names)} layers ({', '.join(names)}); give --layer")
        return None
    return names[0]


def _crs(declared: str | None, label: str, errors: Collector, given: str | None) -> pyproj.CRS | None:
    if declared is None and given is None:
        errors.add(
            label,
            None,
            "crs",
            "the file declares no coordinate reference system (a shapefile needs its .prj); "
            "give the right one with --crs, e.g. --crs EPSG:2254",
        )
        return None
    try:
        given_crs = None if given is None else pyproj.CRS.from_user_input(given)
    except CRSError as exc:
        errors.add(label, None, "crs", f"--crs {given!r} is not a coordinate reference system: {exc}")
        return None
    if declared is None:
        return given_crs
    try:
        crs = pyproj.CRS.from_user_input(declared)
    except CRSError as exc:
        errors.add(label, None, "crs", f"the file's coordinate reference system cannot be understood: {exc}")
        return None
    if given_crs is not None and not crs.equals(given_crs, ignore_axis_order=True):
        errors.add(
            label,
            None,
            "crs",
            f"the file declares {crs.name}; --crs {given} contradicts it (--crs is only for files without one)",
        )
        return None
    return crs


def transformer_to_wgs84(crs: pyproj.CRS) -> tuple[pyproj.Transformer | None, str]:
    """The transformation PROJ picks from ``crs`` to WGS84 (None when already WGS84) and a sentence naming it.

    Network grids are never fetched: only what is installed with pyproj (or in the PROJ user directory) is used.
    When a more accurate transformation exists but its grid is missing, pyproj warns; that is said, not hidden.
    """
    pyproj.network.set_network_enabled(False)  # type: ignore[attr-defined]
    if crs.equals(WGS84, ignore_axis_order=True):
        return None, "already WGS84"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        transformer = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
    accuracy = f"accuracy {transformer.accuracy:g} m" if transformer.accuracy >= 0 else "accuracy unknown"
    note = f"reprojected from {crs.name} to WGS84 by '{transformer.description}' ({accuracy})"
    missing = [str(w.message).split("Grid(short_name=")[-1].split(",")[0] for w in caught if "Grid(" in str(w.message)]
    if missing:
        note += f"; a more accurate transformation needs the grid {missing[0]}, which is not installed"
    return transformer, note


def _to_lists(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_to_lists(v) for v in value]
    return float(value)


def _geojson(geom: shapely.Geometry | None, transformer: pyproj.Transformer | None) -> dict[str, Any] | None:
    if geom is None or geom.is_empty:
        return None if geom is None else {"type": geom.geom_type, "coordinates": []}
    geom = shapely.force_2d(geom)
    if transformer is not None:

        def project(xy: NDArray[np.float64]) -> NDArray[np.float64]:
            lon, lat = transformer.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([lon, lat])

        # Invalid shapes (a bow-tie) are transformed vertex by vertex like any other; parse judges them afterwards.
        geom = shapely.transform(geom, project)
    mapped = shapely_mapping(geom)
    return {"type": mapped["type"], "coordinates": _to_lists(mapped["coordinates"])}


def _value(raw: Any) -> Any:
    """A field value as the GeoJSON reader would give it: text stays text, whole numbers become their digits (a
    shapefile's numeric code), nulls become None; anything else is left for the property checks to refuse."""
    if isinstance(raw, np.generic):
        raw = raw.item()
    if raw is None or (isinstance(raw, float) and raw != raw):
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int):
        return str(raw)
    return raw


def _properties(names: list[str], record: list[Any], mapping: Mapping[str, str], wanted: tuple[str, ...]) -> Any:
    props: dict[str, Any] = {name: _value(value) for name, value in zip(names, record, strict=True)}
    folded = {name.lower(): name for name in names}
    for ours in wanted:
        mapped = mapping.get(ours)
        theirs = mapped if mapped in props else (ours if ours in props else folded.get(ours.lower()))
        props[ours] = props.get(theirs) if theirs else None
    precincts = props.get("precincts")
    if isinstance(precincts, str):
        # A shapefile field cannot hold a list: the precinct codes a place serves come as "0001;0002".
        props["precincts"] = [p.strip() for p in precincts.replace(",", ";").split(";") if p.strip()]
    elif precincts is None:
        props.pop("precincts", None)
    return props


def read_vector(
    path: Path, label: str, errors: Collector, options: VectorOptions, wanted: tuple[str, ...], notes: list[str]
) -> list[Any] | None:
    """The features of a vector file as GeoJSON-like dicts in WGS84, or None (with the problem reported).

    ``wanted`` are our property names; each is taken from the field ``options.mapping`` names, else from the field
    of the same name (in any letter case, as shapefiles often upper-case them). ``notes`` receives the
    transformation used, for the run's report.
    """
    if not readable_size(path, label, errors):
        return None
    dataset = _dataset(path, label, errors)
    if dataset is None:
        return None
    try:
        layer = _layer(dataset, path, label, errors, options.layer)
        if layer is None and path.suffix.lower() == ".gpkg":
            return None
        meta, _fids, geometries, field_data = pyogrio.raw.read(dataset, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError) as exc:
        errors.add(label, None, "file", f"cannot be read as a Shapefile or GeoPackage: {exc}")
        return None
    names = [str(n) for n in meta["fields"]]
    # --map applies to every vector file given: a file without THEIRS is fine if it has our field itself.
    folded = {name.lower() for name in names}
    unknown = [
        f"{ours}={theirs}"
        for ours, theirs in options.mapping.items()
        if ours in wanted and theirs not in names and ours.lower() not in folded
    ]
    if unknown:
        errors.add(label, None, "map", f"--map {', '.join(unknown)}: no such field (the fields: {', '.join(names)})")
        return None
    crs = _crs(meta.get("crs"), label, errors, options.crs)
    if crs is None:
        return None
    transformer, note = transformer_to_wgs84(crs)
    notes.append(f"{label}: {note}")
    features: list[Any] = []
    # A point PROJ cannot transform comes back infinite; parse then refuses it naming the position.
    for index, geom in enumerate(shapely.from_wkb(geometries)):
        record = [column[index] for column in field_data]
        properties = _properties(names, record, options.mapping, wanted)
        features.append({"type": "Feature", "geometry": _geojson(geom, transformer), "properties": properties})
    return features

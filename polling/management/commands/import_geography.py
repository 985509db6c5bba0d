"""``manage.py import_geography``: the import contract of docs/import.md."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from polling.geography.importer import GeographyImportError, ImportResult, VectorOptions, import_geography
from polling.models import Election


def _mapping(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise CommandError(f"--map {pair!r}: write it as OURS=THEIRS, e.g. --map code=PRECINCT_ID")
        mapping[ours.strip()] = theirs.strip()
    return mapping


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


class Command(BaseCommand):
    help = (
        "Import counties, precincts and polling places from GeoJSON files, Shapefiles (.shp or zipped) or "
        "GeoPackages in any projection: validated first, then upserted by code "
        "in one transaction (all or nothing). Errors name the file, feature index and field."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--counties", type=Path, help="FeatureCollection of counties (fips, name, state)")
        parser.add_argument("--precincts", type=Path, help="FeatureCollection of precincts (county_fips, code, name)")
        parser.add_argument(
            "--polling-places",
            type=Path,
            help="FeatureCollection of polling places "
            "(county_fips, code, name, address, precincts, entrances, building)",
        )
        parser.add_argument(
            "--election",
            type=int,
            help="id of the election whose precinct assignments the polling places' 'precincts' set "
            "(default: the next upcoming election of each state)",
        )
        parser.add_argument(
            "--repair",
            action="store_true",
            help="repair invalid polygons (self-intersections) instead of refusing them; repairs are reported",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")
        parser.add_argument(
            "--layer", help="the GeoPackage layer to read (default: its only layer); applies to every .gpkg given"
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="OURS=THEIRS",
            help="read our property OURS from the vector file's field THEIRS, e.g. --map code=PRECINCT_ID "
            "(repeatable; applies to every .shp/.zip/.gpkg given)",
        )
        parser.add_argument(
            "--crs",
            help="coordinate reference system of a vector file that declares none (no .prj), e.g. EPSG:2254",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not any(options[k] for k in ("counties", "precincts", "polling_places")):
            raise CommandError("Nothing to import: give --counties, --precincts and/or --polling-places.")
        election = None
        if options["election"] is not None:
            election = Election.objects.filter(pk=options["election"]).first()
            if election is None:
                raise CommandError(f"No election with id {options['election']}.")
        show = not options["no_progress"] and options.get("verbosity", 1) >= 1

        def progress(items: Iterable[Any], desc: str, total: int) -> Iterable[Any]:
            # Only large files get a bar; tqdm hides itself when stderr is not a terminal (disable=None).
            if not show or total < 200:
                return items
            return tqdm(items, desc=desc, total=total, unit=" features", disable=None, file=sys.stderr, leave=False)

        try:
            result = import_geography(
                # call_command() passes keyword values through without argparse's type conversion.
                counties=_path(options["counties"]),
                precincts=_path(options["precincts"]),
                polling_places=_path(options["polling_places"]),
                election=election,
                repair=options["repair"],
                progress=progress,
                vector_options=VectorOptions(
                    layer=options.get("layer"), mapping=_mapping(options.get("map") or []), crs=options.get("crs")
                ),
            )
        except GeographyImportError as exc:
            raise CommandError(str(exc)) from None
        self._report(result)

    def _report(self, result: ImportResult) -> None:
        kinds = sorted(set(result.created) | set(result.updated) | set(result.unchanged) | set(result.deleted))
        for kind in kinds:
            self.stdout.write(
                f"{kind}: {result.created.get(kind, 0)} created, {result.updated.get(kind, 0)} updated, "
                f"{result.unchanged.get(kind, 0)} unchanged"
                + (f", {result.deleted[kind]} deleted" if result.deleted.get(kind) else "")
                + (f" (in {', '.join(result.elections)})" if kind == "precinct assignments" else "")
            )
        for note in result.notes:
            self.stdout.write(note)
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        self.stdout.write(self.style.SUCCESS("Import complete."))

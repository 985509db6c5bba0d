"""Seed every US state, DC and territory, and the buffer rules in polling/data/buffer_laws.csv with citations.

Reads the CSV files as they stood when this migration was written; a later change to the rules is a new
migration (or an administrator's edit), never an edit of this one.
"""

import csv
from decimal import Decimal
from pathlib import Path

from django.db import migrations

DATA = Path(__file__).resolve().parent.parent / "data"


def _citation(row: dict[str, str]) -> str:
    return row["source"].strip()


def seed(apps, schema_editor):
    Jurisdiction = apps.get_model("polling", "Jurisdiction")
    BufferRule = apps.get_model("polling", "BufferRule")
    with (DATA / "jurisdictions.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            Jurisdiction.objects.update_or_create(
                code=row["code"], defaults={"fips": row["fips"], "name": row["name"], "timezone": row["timezone"]}
            )
    by_code = {j.code: j for j in Jurisdiction.objects.all()}
    with (DATA / "buffer_laws.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            BufferRule.objects.update_or_create(
                jurisdiction=by_code[row["state"]],
                activity=row["activity"],
                defaults={
                    "distance_ft": Decimal(row["distance_ft"]),
                    "measured_from": row["measured_from"],
                    "citation": _citation(row),
                    "note": row["note"].strip(),
                },
            )


class Migration(migrations.Migration):
    dependencies = [("polling", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

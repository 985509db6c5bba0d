"""California's buffer rules as the Elections Code reads since SB 35 (Stats. 2021, ch. 318, in force 1 January 2022).

§ 18370(b) bans electioneering within 100 feet of (1) the entrance to a building that contains a polling place and
(2) an outdoor site at which a voter may cast or drop off a ballot; § 319.5(a)(5), formerly (e), counts obstructing
access to, loitering near, or electioneering at a vote-by-mail ballot drop box as electioneering. Migration 0002
seeded the voting-site rule from the NCSL table (measured from the polling place, cited to NCSL) and 0013 the
drop-box rule with the section numbers before 2022. Each row is corrected only while it still holds the value
seeded: an administrator's edit stands.
"""

from django.db import migrations

CORRECTIONS = [
    {
        "applies_to": "voting_sites",
        "seeded": {"measured_from": "polling_place", "citation": "NCSL Electioneering Prohibitions"},
        "now": {
            "measured_from": "entrance",
            "citation": "Cal. Elec. Code § 18370(b)(1)",
            "note": "100 ft of the entrance to a building that contains a polling place",
        },
    },
    {
        "applies_to": "drop_boxes",
        "seeded": {"citation": "Cal. Elec. Code § 18370; § 319.5(e)"},
        "now": {"citation": "Cal. Elec. Code § 18370(b)(2); § 319.5(a)(5)"},
    },
]


def correct(apps, schema_editor):
    BufferRule = apps.get_model("polling", "BufferRule")
    for correction in CORRECTIONS:
        BufferRule.objects.filter(
            jurisdiction__code="CA", activity="campaigning", applies_to=correction["applies_to"], **correction["seeded"]
        ).update(**correction["now"])


def restore(apps, schema_editor):
    BufferRule = apps.get_model("polling", "BufferRule")
    for correction in CORRECTIONS:
        BufferRule.objects.filter(
            jurisdiction__code="CA", activity="campaigning", applies_to=correction["applies_to"], **correction["now"]
        ).update(**correction["seeded"], **({"note": ""} if "note" in correction["now"] else {}))


class Migration(migrations.Migration):
    dependencies = [("polling", "0014_incident_report_id")]

    operations = [migrations.RunPython(correct, restore)]

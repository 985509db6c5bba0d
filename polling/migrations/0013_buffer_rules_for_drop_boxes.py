"""Buffer rules per kind of site: voting sites (every rule so far) or ballot drop boxes, and the drop-box rules the
law sets.

California: Elections Code § 18370 bans electioneering within 100 feet of an outdoor site at which a voter may cast
or drop off a ballot (and § 319.5(e) counts loitering near, or electioneering at, a vote-by-mail drop box as
electioneering). polling/data/buffer_laws.csv names no drop-box rule for any other state. The rule is written here,
not read from a file, so this migration means the same whenever it runs; a later change is a new migration or an
administrator's edit.
"""

from decimal import Decimal

from django.db import migrations, models

DROP_BOX_RULES = [
    {
        "state": "CA",
        "activity": "campaigning",
        "distance_ft": Decimal("100"),
        "measured_from": "polling_place",
        "citation": "Cal. Elec. Code § 18370; § 319.5(e)",
        "note": "100 ft of an outdoor site at which a voter may drop off a ballot (a drop box itself)",
    },
]


def seed(apps, schema_editor):
    Jurisdiction = apps.get_model("polling", "Jurisdiction")
    BufferRule = apps.get_model("polling", "BufferRule")
    for rule in DROP_BOX_RULES:
        state = Jurisdiction.objects.filter(code=rule["state"]).first()
        if state is None:
            continue
        BufferRule.objects.update_or_create(
            jurisdiction=state,
            activity=rule["activity"],
            applies_to="drop_boxes",
            defaults={k: rule[k] for k in ("distance_ft", "measured_from", "citation", "note")},
        )


def unseed(apps, schema_editor):
    apps.get_model("polling", "BufferRule").objects.filter(applies_to="drop_boxes").delete()


class Migration(migrations.Migration):

    dependencies = [
        ('polling', '0012_typed_locations_hours_vote_centers_import_warnings'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='bufferrule',
            options={'ordering': ['jurisdiction__code', 'activity', '-applies_to']},
        ),
        migrations.RemoveConstraint(
            model_name='bufferrule',
            name='polling_bufferrule_one_per_activity',
        ),
        migrations.AddField(
            model_name='bufferrule',
            name='applies_to',
            field=models.CharField(choices=[('voting_sites', 'Election-day and early-voting sites'), ('drop_boxes', 'Ballot drop boxes')], default='voting_sites', help_text='The kind of site the distance is kept from.', max_length=20),
        ),
        migrations.AddConstraint(
            model_name='bufferrule',
            constraint=models.UniqueConstraint(fields=('jurisdiction', 'activity', 'applies_to'), name='polling_bufferrule_one_per_activity_and_site', violation_error_message='This jurisdiction already has a rule for that activity at that kind of site.'),
        ),
        migrations.RunPython(seed, unseed),
    ]

"""Check-in/check-out: the append-only presence log, its per-place ledger, the derived presence table and quota
rules; seeds Mississippi's watcher quotas (2 per party, 1 per candidate). Observers have no rule, hence no limit."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MS_RULES = [
    # (credential kind, per, max inside at once)
    ("poll_watcher", "party", 2),
    ("poll_watcher", "candidate", 1),
]
# The limits come from the product brief; the statute is for the state administrator to confirm and record.
MS_CITATION = "Mississippi poll-watcher limits (citation to be confirmed by the state administrator)"


def seed_mississippi(apps, schema_editor):
    Jurisdiction = apps.get_model("polling", "Jurisdiction")
    PresenceRule = apps.get_model("polling", "PresenceRule")
    ms = Jurisdiction.objects.filter(code="MS").first()
    if ms is None:
        return
    for kind, per, max_inside in MS_RULES:
        PresenceRule.objects.update_or_create(
            jurisdiction=ms,
            credential_kind=kind,
            per=per,
            defaults={"max_inside": max_inside, "citation": MS_CITATION},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_credentials"),
        ("polling", "0005_buffer_distance_limit"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PresenceEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("event_id", models.UUIDField(unique=True)),
                (
                    "kind",
                    models.CharField(choices=[("check_in", "Check-in"), ("check_out", "Check-out")], max_length=10),
                ),
                ("occurred_at", models.DateTimeField(help_text="Tablet time.")),
                ("received_at", models.DateTimeField(help_text="Server time.")),
                ("hlc", models.BigIntegerField()),
                (
                    "outcome",
                    models.CharField(choices=[("accepted", "Accepted"), ("refused", "Refused")], max_length=10),
                ),
                ("reason", models.CharField(blank=True, max_length=32)),
                ("body_hash", models.CharField(max_length=64)),
                ("status_code", models.PositiveSmallIntegerField(help_text="HTTP status of the first answer.")),
                ("response", models.JSONField(help_text="Body of the first answer.")),
                (
                    "credential",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="presence_events",
                        to="accounts.credential",
                    ),
                ),
                (
                    "device",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.device"
                    ),
                ),
                (
                    "election",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="polling.election",
                    ),
                ),
                (
                    "polling_place",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="presence_events",
                        to="polling.pollingplace",
                    ),
                ),
                (
                    "worker",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "ordering": ["hlc", "pk"],
            },
        ),
        migrations.CreateModel(
            name="Presence",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "credential",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.credential"
                    ),
                ),
                (
                    "election",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="polling.election"
                    ),
                ),
                (
                    "polling_place",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="polling.pollingplace"
                    ),
                ),
                (
                    "check_in",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="polling.presenceevent"
                    ),
                ),
            ],
            options={
                "ordering": ["check_in__hlc"],
            },
        ),
        migrations.CreateModel(
            name="PresenceLedger",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("roster_version", models.BigIntegerField(default=0)),
                ("last_hlc", models.BigIntegerField(default=0)),
                (
                    "election",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="polling.election"
                    ),
                ),
                (
                    "polling_place",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="polling.pollingplace"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="PresenceRule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "credential_kind",
                    models.CharField(
                        choices=[
                            ("poll_watcher", "Poll watcher"),
                            ("federal_observer", "Federal observer"),
                            ("state_observer", "State observer"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "per",
                    models.CharField(
                        choices=[
                            ("party", "Per appointing party"),
                            ("candidate", "Per appointing candidate"),
                            ("kind", "For the kind as a whole"),
                        ],
                        max_length=10,
                    ),
                ),
                ("max_inside", models.PositiveIntegerField()),
                ("citation", models.CharField(blank=True, max_length=200)),
                (
                    "jurisdiction",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="presence_rules",
                        to="polling.jurisdiction",
                    ),
                ),
            ],
            options={
                "ordering": ["jurisdiction__code", "credential_kind", "per"],
            },
        ),
        migrations.AddIndex(
            model_name="presenceevent",
            index=models.Index(fields=["polling_place", "election", "hlc"], name="polling_presence_place_idx"),
        ),
        migrations.AddConstraint(
            model_name="presenceevent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("outcome", "accepted"), ("reason", "")),
                    models.Q(("outcome", "refused"), models.Q(("reason", ""), _negated=True)),
                    _connector="OR",
                ),
                name="polling_presenceevent_refusal_has_reason",
                violation_error_message="A refused event has a reason; an accepted one has none.",
            ),
        ),
        migrations.AddConstraint(
            model_name="presenceevent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("outcome", "refused"),
                    models.Q(("credential__isnull", False), ("election__isnull", False)),
                    _connector="OR",
                ),
                name="polling_presenceevent_accepted_has_credential",
                violation_error_message="An accepted event names its credential and election.",
            ),
        ),
        migrations.AddConstraint(
            model_name="presence",
            constraint=models.UniqueConstraint(
                fields=("polling_place", "election", "credential"), name="polling_presence_once_per_place"
            ),
        ),
        migrations.AddConstraint(
            model_name="presenceledger",
            constraint=models.UniqueConstraint(
                fields=("polling_place", "election"), name="polling_presenceledger_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="presencerule",
            constraint=models.UniqueConstraint(
                fields=("jurisdiction", "credential_kind", "per"),
                name="polling_presencerule_unique",
                violation_error_message="This jurisdiction already has this quota.",
            ),
        ),
        migrations.RunPython(seed_mississippi, migrations.RunPython.noop),
    ]

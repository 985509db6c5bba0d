"""Names refuse unprintable characters (validators only: no change in the database), and failed attempts are
counted per address bucket (an IPv6 address's /64): the new column is filled in for the attempts already kept."""

from django.db import migrations, models

import accounts.models.validators
from common.net import address_bucket


def fill_buckets(apps, schema_editor):
    LoginFailure = apps.get_model("accounts", "LoginFailure")
    for row in LoginFailure.objects.exclude(ip_address=None).only("pk", "ip_address").iterator():
        LoginFailure.objects.filter(pk=row.pk).update(address_bucket=address_bucket(row.ip_address) or "")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_credentials'),
    ]

    operations = [
        migrations.AddField(
            model_name='loginfailure',
            name='address_bucket',
            field=models.CharField(blank=True, help_text='What the per-address limit counts: the IPv4 address, or the /64 network of an IPv6 address.', max_length=64),
        ),
        migrations.AlterField(
            model_name='credential',
            name='appointed_by_name',
            field=models.CharField(blank=True, help_text="Poll watchers only: the appointing party's or candidate's name.", max_length=200, validators=[accounts.models.validators.validate_printable]),
        ),
        migrations.AlterField(
            model_name='credential',
            name='holder_name',
            field=models.CharField(max_length=200, validators=[accounts.models.validators.validate_printable]),
        ),
        migrations.AlterField(
            model_name='device',
            name='label',
            field=models.CharField(help_text="What is written on the tablet, e.g. 'Table 2'.", max_length=100, validators=[accounts.models.validators.validate_printable]),
        ),
        migrations.AlterField(
            model_name='enrolmentcode',
            name='label',
            field=models.CharField(max_length=100, validators=[accounts.models.validators.validate_printable]),
        ),
        migrations.AlterField(
            model_name='loginfailure',
            name='username',
            field=models.CharField(blank=True, help_text='The account key: the username as typed, normalised (NFKC case folding).', max_length=150),
        ),
        migrations.AlterField(
            model_name='user',
            name='first_name',
            field=models.CharField(blank=True, max_length=150, validators=[accounts.models.validators.validate_printable], verbose_name='first name'),
        ),
        migrations.AlterField(
            model_name='user',
            name='last_name',
            field=models.CharField(blank=True, max_length=150, validators=[accounts.models.validators.validate_printable], verbose_name='last name'),
        ),
        migrations.AddIndex(
            model_name='loginfailure',
            index=models.Index(fields=['address_bucket', 'occurred_at'], name='accounts_loginfail_bucket_idx'),
        ),
        migrations.RunPython(fill_buckets, migrations.RunPython.noop, elidable=True),
    ]

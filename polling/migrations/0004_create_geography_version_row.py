from django.db import migrations


def create(apps, schema_editor):
    apps.get_model("polling", "GeographyVersion").objects.get_or_create(pk=1, defaults={"value": 1})


class Migration(migrations.Migration):
    dependencies = [("polling", "0003_geography_version")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]

"""Usernames are stored in their one canonical form (``common.text.username_key``: NFKC case folding), and the
failed attempts kept are re-keyed the same way. Two accounts whose usernames have the same canonical form cannot
both keep it: the migration stops and names them (rename one in the admin site first), never merging them."""

from django.db import migrations

from common.text import username_key


def normalise(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    LoginFailure = apps.get_model("accounts", "LoginFailure")
    by_key: dict[str, list[tuple[int, str]]] = {}
    for pk, username in User.objects.values_list("pk", "username").order_by("pk"):
        by_key.setdefault(username_key(username), []).append((pk, username))
    clashes = {key: users for key, users in by_key.items() if len(users) > 1}
    if clashes:
        listed = "; ".join(
            f"{key!r}: " + ", ".join(f"id {pk} {name!r}" for pk, name in users) for key, users in sorted(clashes.items())
        )
        raise RuntimeError(
            "Usernames that are the same account once normalised (NFKC case folding); rename all but one of each "
            f"and migrate again: {listed}"
        )
    for key, [(pk, username)] in by_key.items():
        if key != username:
            User.objects.filter(pk=pk).update(username=key)
    for pk, username in LoginFailure.objects.exclude(username="").values_list("pk", "username").iterator():
        key = username_key(username)[:150]
        if key != username:
            LoginFailure.objects.filter(pk=pk).update(username=key)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_printable_names_and_address_buckets"),
    ]

    operations = [
        migrations.RunPython(normalise, migrations.RunPython.noop, elidable=False),
    ]

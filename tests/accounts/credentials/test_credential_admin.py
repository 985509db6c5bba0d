"""The admin shows credentials and signing keys read-only, and never the private key."""

import pytest

from accounts.models import SigningKey
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db


def test_credentials_are_listed_and_searchable_but_not_editable(admin_client):
    credential = CredentialFactory(holder_name="Fannie Lou Hamer")
    listing = admin_client.get("/admin/accounts/credential/", {"q": "Hamer"})
    assert listing.status_code == 200 and credential.serial in listing.content.decode()
    assert admin_client.get("/admin/accounts/credential/add/").status_code == 403
    page = admin_client.get(f"/admin/accounts/credential/{credential.pk}/change/")
    assert page.status_code == 200 and 'name="holder_name"' not in page.content.decode()


def test_signing_keys_show_no_private_key(admin_client):
    from django.db import transaction

    from accounts.audit import Actor
    from accounts.credentials.keys import signing_key_rotate

    with transaction.atomic():
        key = signing_key_rotate(actor=Actor.system())
    assert SigningKey.objects.filter(pk=key.pk, active=True).exists()
    page = admin_client.get(f"/admin/accounts/signingkey/{key.pk}/change/").content.decode()
    assert key.public_key in page
    assert key.private_key_encrypted not in page and "private_key_encrypted" not in page

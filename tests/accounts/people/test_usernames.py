# ruff: noqa: RUF001, RUF002 (look-alike characters are what this module is about)
"""Usernames (issue 10, lockout bypass with Unicode look-alikes): one canonical form (NFKC case folding), made at
creation whoever creates the user and at sign-in, looked up exactly (the same on SQLite and PostgreSQL), and one
failure budget per account whatever spelling is typed."""

from __future__ import annotations

import importlib
import unicodedata
import uuid

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from accounts.models import LoginFailure, User
from accounts.people.lockout import account_key, username_key
from common.text import username_key as canonical
from tests.factories import UserFactory
from tests.people import PASSWORD

TOKEN = "/api/v1/auth/token/"
#: Characters whose case or compatibility forms differ across databases and libraries.
TRICKY = "aAiIsSkKıİſßẞﬁﬀ\u212a\u00b5\u03bc\u039cΣσςＳｓ\u0301\u0307ﾀ"
names = st.text(alphabet=st.sampled_from(TRICKY) | st.characters(codec="utf-8"), min_size=1, max_size=30)


def attempt(api, username, password="wrong password", **extra):  # noqa: S107
    body = {"username": username, "password": password, "device_id": str(uuid.uuid4())} | extra
    return api.post(TOKEN, body, format="json")


# --- the key, as a function -----------------------------------------------------------------------------------------


@given(names)
def test_the_key_is_idempotent(raw):
    assert canonical(canonical(raw)) == canonical(raw)


@given(names)
def test_a_name_and_its_case_folded_and_compatibility_forms_have_one_key(raw):
    key = canonical(raw)
    for variant in (
        raw.casefold(),
        unicodedata.normalize("NFKC", raw),
        unicodedata.normalize("NFKD", raw),
        unicodedata.normalize("NFC", raw),
        unicodedata.normalize("NFD", raw),
        unicodedata.normalize("NFKC", raw).casefold(),
    ):
        assert canonical(variant) == key, (raw, variant)


@given(names)
def test_the_failure_key_is_the_account_key_bounded_and_trimmed(raw):
    assert username_key(f"  {raw} ") == account_key(raw)[:150]


# --- creation -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make",
    [
        lambda name: get_user_model().objects.create_user(name, password=PASSWORD),
        lambda name: get_user_model().objects.create_superuser(name, password=PASSWORD),
        lambda name: UserFactory(username=name),
        lambda name: User.objects.create(username=name),
    ],
    ids=["create_user", "create_superuser", "factory", "objects.create"],
)
def test_every_way_of_making_a_user_stores_the_canonical_username(make):
    user = make("ſAM")
    assert User.objects.get(pk=user.pk).username == "sam"


@pytest.mark.django_db
def test_model_validation_refuses_a_look_alike_of_an_existing_username():
    from django.core.exceptions import ValidationError

    UserFactory(username="sam")
    twin = User(username="SAM", password="x")
    with pytest.raises(ValidationError):
        twin.full_clean()
    assert twin.username == "sam"  # clean() normalised it


@pytest.mark.django_db
def test_the_admin_add_form_normalises_and_refuses_a_look_alike(admin_client):
    form = {"username": "ſam", "password1": "a long Passphrase 42", "password2": "a long Passphrase 42"}
    response = admin_client.post("/admin/accounts/user/add/", form | {"usable_password": "true"})
    assert response.status_code == 302, response.content[:2000]
    assert User.objects.filter(username="sam").exists()
    again = admin_client.post("/admin/accounts/user/add/", form | {"username": "SAM", "usable_password": "true"})
    assert again.status_code == 200  # the form is shown again with the error
    assert User.objects.filter(username="sam").count() == 1


# --- sign-in --------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["WORKER", "ＷＯＲＫＥＲ", "worKer", " worker "])
def test_any_spelling_of_the_username_signs_in_to_the_account(api, poll_worker, tablet, typed):
    device, secret = tablet
    response = attempt(api, typed, PASSWORD, device_id=str(device.pk), device_secret=secret)
    assert response.status_code == 200, response.json()


@pytest.mark.django_db
def test_a_dotless_i_names_another_account_on_every_database(api, tablet, place, election):
    """On PostgreSQL ``UPPER('sım') = UPPER('sim')``: an ``iexact`` lookup signed "sım" in to "sim"."""
    from accounts.models import Role
    from tests.people import grant

    grant(UserFactory(username="sim"), Role.POLL_WORKER, polling_place=place, election=election)
    device, secret = tablet
    assert attempt(api, "SIM", PASSWORD, device_id=str(device.pk), device_secret=secret).status_code == 200
    response = attempt(api, "sım", PASSWORD, device_id=str(device.pk), device_secret=secret)
    assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"
    assert LoginFailure.objects.get().reason == "unknown_user"


@pytest.mark.django_db
def test_look_alike_spellings_share_one_failure_budget(api, poll_worker, tablet):
    """Long s, the Kelvin sign, full-width letters and case: one account, one count of five."""
    for typed in ["worker", "WORKER", "ｗｏｒｋｅｒ", "Worker", "WOR\u212aER"]:
        assert attempt(api, typed).status_code == 401
    device, secret = tablet
    response = attempt(api, "worker", PASSWORD, device_id=str(device.pk), device_secret=secret)
    assert response.status_code == 429
    assert set(LoginFailure.objects.values_list("username", flat=True)) == {"worker"}


@pytest.mark.django_db
def test_unknown_names_are_counted_by_their_key(api):
    for typed in ["ghoſt", "GHOST", "ｇｈｏｓｔ", "Ghost", "ghost"]:
        assert attempt(api, typed).status_code == 401
    assert attempt(api, "ghost").status_code == 429


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=names)
def test_any_name_and_its_variants_resolve_to_the_same_account(raw):
    assume("\x00" not in raw)  # no database stores NUL in text (and no username holds one)
    name = raw.strip()  # as a sign-in form sends it
    key = account_key(name)
    # Examples share one test transaction: each needs a name no earlier example took.
    assume(name and key and len(key) <= 150 and not User.objects.filter(username=key).exists())
    user = User.objects.create_user(name, password=None)
    for variant in (name.casefold(), unicodedata.normalize("NFKC", name), unicodedata.normalize("NFD", name), key):
        assert User.objects.filter(username=account_key(variant)).get() == user


# --- existing usernames ---------------------------------------------------------------------------------------------


def _normalise():
    return importlib.import_module("accounts.migrations.0006_usernames_normalised").normalise


@pytest.mark.django_db
def test_the_migration_normalises_stored_usernames_and_failure_keys(db):
    a, b = UserFactory(username="a"), UserFactory(username="b")
    User.objects.filter(pk=a.pk).update(username="ſAM")  # as stored before the migration
    User.objects.filter(pk=b.pk).update(username="Bob")
    LoginFailure.objects.create(username="ſam")
    _normalise()(apps, None)
    assert sorted(User.objects.values_list("username", flat=True)) == ["bob", "sam"]
    assert list(LoginFailure.objects.values_list("username", flat=True)) == ["sam"]


@pytest.mark.django_db
def test_the_migration_fails_loudly_when_two_accounts_would_become_one(db):
    a, b = UserFactory(username="a"), UserFactory(username="b")
    User.objects.filter(pk=a.pk).update(username="Sam")
    User.objects.filter(pk=b.pk).update(username="ſam")
    with pytest.raises(RuntimeError, match="rename all but one"):
        _normalise()(apps, None)
    assert sorted(User.objects.values_list("username", flat=True)) == ["Sam", "ſam"]  # nothing merged or renamed

"""Names people give (issue 10): a credential holder's and appointer's name (API, CSV import), a user's first and
last name (admin site), a tablet's label (API) — none may hold control or format characters (zero-width,
bidirectional …); the refusal's code is ``unprintable_characters`` and names the field. One validator:
``accounts.models.validators``."""

from __future__ import annotations

import pytest
from django.contrib.auth.forms import UserChangeForm
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent, Credential, EnrolmentCode, User
from common.errors import REFUSALS, Kind
from tests.factories import UserFactory
from tests.people import signed_in

pytestmark = pytest.mark.django_db

HOSTILE = [
    "Green\u200bParty",  # zero-width space
    "Green \u202eytraP",  # right-to-left override
    "Green\u2066Party\u2069",  # isolates
    "Green\x1fParty",  # unit separator (white space to Python, a control character all the same)
    "Green\u2028Party",  # line separator
    "Green\ufeffParty",  # zero-width no-break space
]


def test_a_nul_in_a_name_is_refused_before_it_reaches_the_service(world, commissioner, place):
    """DRF refuses NUL in any text field itself (400, the field named, ``null_characters_not_allowed``)."""
    body = {"kind": "federal_observer", "holder_name": "Ada\x00", "election": world.general.pk, "county": "28049"}
    response = signed_in(world.commissioner).post("/api/v1/credentials/", body, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["holder_name"]
    response = signed_in(commissioner).post(
        "/api/v1/auth/devices/enrolments/", {"polling_place": place.pk, "label": "T\x00"}, format="json"
    )
    assert response.status_code == 400 and list(response.json()["errors"]) == ["label"]


def test_the_code_is_registered_as_invalid():
    assert REFUSALS["unprintable_characters"] is Kind.INVALID


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("field", ["holder_name", "appointed_by_name"])
def test_issuing_refuses_unprintable_names_naming_the_field(world, name, field):
    body = {"kind": "poll_watcher", "holder_name": "Ada Lovelace", "appointed_by_kind": "party"}
    body |= {"appointed_by_name": "Green Party", "election": world.general.pk, "county": world.hinds.fips}
    client = signed_in(world.commissioner)
    before = (Credential.objects.count(), AuditEvent.objects.count())

    response = client.post("/api/v1/credentials/", body | {field: name}, format="json")

    assert response.status_code == 400, response.content
    out = response.json()
    assert out["code"] == "unprintable_characters" and list(out["errors"]) == [field]
    assert "U+" in out["detail"]
    assert (Credential.objects.count(), AuditEvent.objects.count()) == before


def test_white_space_in_a_name_is_still_made_one_space(world):
    body = {"kind": "federal_observer", "holder_name": "Ada\tKing\nLovelace", "election": world.general.pk}
    client = signed_in(world.commissioner)
    response = client.post("/api/v1/credentials/", body | {"county": world.hinds.fips}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["holder_name"] == "Ada King Lovelace"


@pytest.mark.parametrize("column", ["holder_name", "appointed_by_name"])
def test_the_csv_import_refuses_unprintable_names_by_row_and_column(world, column):
    cells = {"holder_name": "Ada Lovelace", "appointed_by_name": "Green Party"} | {column: "Green\u200bParty"}
    csv = (
        "kind,holder_name,appointed_by_kind,appointed_by_name,election,county\r\n"
        f"poll_watcher,{cells['holder_name']},party,{cells['appointed_by_name']},{world.general.pk},28049\r\n"
    )
    before = Credential.objects.count()
    response = signed_in(world.commissioner).generic(
        "POST", "/api/v1/credentials/import/", csv.encode(), content_type="text/csv"
    )
    assert response.status_code == 400, response.content
    rows = response.json()["rows"]
    assert [(r["row"], r["column"], r["code"]) for r in rows] == [(2, column, "unprintable_characters")]
    assert Credential.objects.count() == before


@pytest.mark.parametrize("label", HOSTILE)
def test_a_tablet_label_with_unprintable_characters_is_refused(commissioner, place, label):
    response = signed_in(commissioner).post(
        "/api/v1/auth/devices/enrolments/", {"polling_place": place.pk, "label": label}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "unprintable_characters"
    assert list(response.json()["errors"]) == ["label"]
    assert not EnrolmentCode.objects.exists()


@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_a_users_names_are_checked_by_the_model_and_the_admin_form(field):
    user = UserFactory(username="ada")
    setattr(user, field, "Ada\u200dLovelace")
    with pytest.raises(ValidationError) as refused:
        user.full_clean()
    assert [e.code for e in refused.value.error_dict[field]] == ["unprintable_characters"]

    user = User.objects.get(pk=user.pk)
    data = {"username": "ada", "first_name": "Ada", "last_name": "Lovelace", "date_joined_0": "2020-01-01"}
    data |= {"date_joined_1": "00:00", "date_joined": "2020-01-01 00:00", "is_active": "on"}
    form = UserChangeForm(instance=user, data=data | {field: "Ada\u200dLovelace"})
    assert not form.is_valid() and field in form.errors
    assert form.errors.as_data()[field][0].code == "unprintable_characters"


def test_the_admin_site_refuses_an_unprintable_name(admin_client):
    user = UserFactory(username="ada", first_name="Ada")
    page = admin_client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data |= {"first_name": "A\u202eda", "date_joined_0": "2020-01-01", "date_joined_1": "00:00:00"}
    data = {k: v for k, v in data.items() if not isinstance(v, list | tuple)} | {
        "groups": [],
        "user_permissions": [],
    }
    response = admin_client.post(f"/admin/accounts/user/{user.pk}/change/", data)
    assert response.status_code == 200  # the form again, with the error
    assert User.objects.get(pk=user.pk).first_name == "Ada"

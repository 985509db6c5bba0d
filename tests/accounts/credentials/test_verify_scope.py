"""``verify`` tells a caller nothing of another county's credentials (issue 10): a token of a county other than the
polling place's (the caller may see only the place's county, or more, but asks at this place) is judged from the
token alone, as a tablet does offline: no holder's name or party, and the same answer whether or not that county
has such a credential on record."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.credentials import issuing
from accounts.models import Credential
from polling.geography import selectors as geography_selectors
from tests.credential_helpers import client, issue

pytestmark = pytest.mark.django_db
URL = "/api/v1/credentials/verify/"


def noon(w) -> dt.datetime:
    return dt.datetime.combine(w.general.date, dt.time(12), tzinfo=geography_selectors.local_zone(w.hinds))


def verify(user, token, place, w):
    body = {"token": token, "polling_place": place.pk, "at": noon(w).isoformat()}
    response = client(user).post(URL, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("caller", ["outsider", "admin"])
def test_a_token_of_another_county_reveals_no_holder(world, caller):
    w = world
    token = issuing.credential_token(issue(w, holder_name="Fannie Lou Hamer", appointed_by_name="Freedom Party"))
    result = verify(getattr(w, caller), token, w.b1, w)  # B1 is in Rankin; the credential is Hinds'
    assert result["valid"] is False and result["reason"] == "wrong_place"
    assert result["credential"] is None
    assert "Hamer" not in str(result) and "Freedom" not in str(result)


def test_another_countys_token_reads_the_same_whether_or_not_it_is_on_record(world):
    w = world
    on_record = issue(w, holder_name="Fannie Lou Hamer")
    gone = issue(w, holder_name="Someone Else")
    tokens = [issuing.credential_token(on_record), issuing.credential_token(gone)]
    Credential.objects.filter(pk=gone.pk).delete()
    first, second = (verify(w.outsider, t, w.b1, w) for t in tokens)
    assert first == second
    # In the credential's own county the difference is told, and the holder shown.
    assert verify(w.commissioner, tokens[1], w.a1, w)["reason"] == "unknown_credential"
    assert verify(w.worker, tokens[0], w.a1, w)["credential"]["holder_name"] == "Fannie Lou Hamer"


def test_a_revoked_token_of_another_county_is_judged_from_the_token_alone(world):
    from accounts.audit import Actor

    w = world
    credential = issue(w)
    issuing.credential_revoke(actor=Actor(user=w.commissioner), credential_id=credential.pk, reason="Lost")
    result = verify(w.outsider, issuing.credential_token(credential), w.b1, w)
    assert result["reason"] == "wrong_place" and result["credential"] is None

"""No shared logons (Mississippi): one account in use at once from two devices, or from two addresses far apart, is
flagged; under ``end_older`` the older session ends and answers 401 ``session_ended_shared_logon``; the person sees
why in their session list, their county's commissioner (and the state administrator) in the flag list, and the
security report counts the flags (``shared_logons_since``).

Addresses are documentation, private and unique-local ones: never placed in a country, so the network rule alone
decides here, and geographic exclusion lets them through."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from accounts.audit import Actor
from accounts.authentication import TokenAuthentication
from accounts.models import ApiSession, AuditEvent, Role, SharedLogonFlag
from accounts.people.selectors import shared_logons_since
from accounts.session_guard import address_network, far_apart, shared_logon_at_use
from polling.models import Jurisdiction
from tests.factories import CountyFactory, ElectionFactory, PollingPlaceFactory, UserFactory
from tests.helpers import audit_actions, in_parallel, last_audit_pk, seed_reference_data
from tests.people import PASSWORD, T0, enrol_totp, frozen_time, grant, make_tablet, signed_in, totp_code

TOKEN = "/api/v1/auth/token/"
ME = "/api/v1/auth/me/"
SESSIONS = "/api/v1/auth/sessions/"
FLAGS = "/api/v1/auth/shared-logons/"
ENDED = "session_ended_shared_logon"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _rules(settings):
    settings.SHARED_LOGON_POLICY = "end_older"
    settings.SHARED_LOGON_WINDOW_S = 15 * 60
    settings.GEO_EXCLUSION = False  # (where guard.geo is installed) the addresses here are not what is tested


def tablet_sign_in(user, tablet, *, ip="10.1.0.5"):
    """Sign ``user`` in on ``tablet`` (``(device, secret)``) from ``ip`` through the API: ``(client, response)``."""
    device, secret = tablet
    api = APIClient(REMOTE_ADDR=ip)
    body = {"username": user.username, "password": PASSWORD, "device_id": str(device.pk), "device_secret": secret}
    response = api.post(TOKEN, body, format="json")
    if response.status_code == 200:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}", HTTP_X_DEVICE_ID=str(device.pk))
        api.session_pk = response.json()["session"]
    return api, response


def staff_sign_in(user, *, device_id, at, ip="10.1.0.5"):
    api = APIClient(REMOTE_ADDR=ip)
    with frozen_time(at):
        body = {"username": user.username, "password": PASSWORD, "otp": totp_code(at), "device_id": str(device_id)}
        response = api.post(TOKEN, body, format="json")
    assert response.status_code == 200, response.json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}", HTTP_X_DEVICE_ID=str(device_id))
    api.session_pk = response.json()["session"]
    return api


@pytest.fixture
def two_tablets(place, commissioner):
    return make_tablet(place, commissioner, label="Table 1"), make_tablet(place, commissioner, label="Table 2")


# --- far apart ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "far"),
    [
        ("10.1.2.3", "10.1.200.9", False),  # the same IPv4 /16
        ("10.1.2.3", "10.2.2.3", True),  # another /16
        ("2001:db8:1:2::1", "2001:db8:1:2::99", False),  # the same /64
        ("2001:db8:1::1", "2001:db8:ffff::1", False),  # the same /32
        ("2001:db8::1", "fd00::1", True),  # another /32
        ("::ffff:10.1.2.3", "10.1.9.9", False),  # IPv4-mapped is IPv4
        ("::ffff:10.1.2.3", "10.9.9.9", True),
        ("10.1.2.3", "2001:db8::1", False),  # another family: a dual-stack client, not a distance
        (None, "10.1.2.3", False),
        ("10.1.2.3", "not an address", False),
        ("10.1.2.3", "10.1.2.3", False),
    ],
)
def test_far_apart_means_another_ipv4_16_or_ipv6_32(first, second, far):
    assert far_apart(first, second) is far
    assert far_apart(second, first) is far


def test_the_network_an_address_is_judged_by():
    assert address_network("10.1.2.3") == "10.1.0.0/16"
    assert address_network("::ffff:192.0.2.1") == "192.0.0.0/16"
    assert address_network("2001:db8:abcd:1::5") == "2001:db8::/32"
    assert address_network("garbage") is None


# --- at sign-in ---------------------------------------------------------------------------------------------------


def test_signing_in_on_a_second_tablet_flags_it_and_ends_the_older_session(poll_worker, two_tablets):
    first, _ = tablet_sign_in(poll_worker, two_tablets[0])
    assert first.get(ME).status_code == 200
    since = last_audit_pk()

    second, response = tablet_sign_in(poll_worker, two_tablets[1], ip="10.1.0.6")

    assert response.status_code == 200, response.json()
    older, newer = ApiSession.objects.get(pk=first.session_pk), ApiSession.objects.get(pk=second.session_pk)
    assert older.ended_at is not None and older.end_reason == "shared_logon" and older.ended_by is None
    assert newer.is_live()
    flag = SharedLogonFlag.objects.get()
    assert flag.user == poll_worker and flag.detected_on == "signin" and flag.session == newer
    assert set(flag.sessions.all()) == {older, newer}
    assert flag.other_device and not flag.far_address
    assert set(flag.devices) == {str(two_tablets[0][0].pk), str(two_tablets[1][0].pk)}
    assert set(flag.addresses) == {"10.1.0.5", "10.1.0.6"}
    assert flag.action == "ended_older" and flag.ended_count == 1
    assert audit_actions(since) == ["auth.login", "session.ended", "auth.shared_logon"]
    event = AuditEvent.objects.get(action="auth.shared_logon")
    assert event.object_id == str(flag.pk) and event.actor == poll_worker
    assert event.after["sessions"] == sorted([older.pk, newer.pk]) and event.after["action"] == "ended_older"

    refused = first.get(ME)
    assert refused.status_code == 401
    assert refused.json()["code"] == ENDED and "in use at the same time" in refused.json()["detail"]
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert second.get(ME).status_code == 200


def test_under_the_flag_policy_both_sessions_stay(settings, poll_worker, two_tablets):
    settings.SHARED_LOGON_POLICY = "flag"
    first, _ = tablet_sign_in(poll_worker, two_tablets[0])
    second, _ = tablet_sign_in(poll_worker, two_tablets[1])

    flag = SharedLogonFlag.objects.get()
    assert flag.action == "flagged" and flag.ended_count == 0
    assert first.get(ME).status_code == 200 and second.get(ME).status_code == 200
    assert ApiSession.objects.filter(user=poll_worker, ended_at__isnull=True).count() == 2


def test_signing_in_again_on_the_same_tablet_is_not_sharing(poll_worker, two_tablets):
    first, _ = tablet_sign_in(poll_worker, two_tablets[0])
    first.delete(TOKEN)  # signed out …
    again, _ = tablet_sign_in(poll_worker, two_tablets[0])
    still, _ = tablet_sign_in(poll_worker, two_tablets[0], ip="10.1.77.1")  # … or not: the same tablet, nearby

    assert not SharedLogonFlag.objects.exists()
    assert again.get(ME).status_code == 200 and still.get(ME).status_code == 200


def test_an_older_session_unused_within_the_window_is_not_sharing(poll_worker, two_tablets):
    first, _ = tablet_sign_in(poll_worker, two_tablets[0])
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16)):
        tablet_sign_in(poll_worker, two_tablets[1])
    assert not SharedLogonFlag.objects.exists()
    assert ApiSession.objects.get(pk=first.session_pk).ended_at is None


def test_a_commissioner_signing_in_on_a_second_device_ends_the_first(commissioner):
    enrol_totp(commissioner)
    laptop = staff_sign_in(commissioner, device_id=uuid.uuid4(), at=T0)
    phone = staff_sign_in(commissioner, device_id=uuid.uuid4(), at=T0 + 30, ip="10.1.9.9")

    assert laptop.get(ME).json()["code"] == ENDED
    assert phone.get(ME).status_code == 200
    assert SharedLogonFlag.objects.get().other_device


def test_the_same_device_signing_in_from_far_away_is_flagged(commissioner):
    enrol_totp(commissioner)
    device_id = uuid.uuid4()
    office = staff_sign_in(commissioner, device_id=device_id, at=T0, ip="10.1.0.5")
    elsewhere = staff_sign_in(commissioner, device_id=device_id, at=T0 + 30, ip="172.16.4.4")

    flag = SharedLogonFlag.objects.get()
    assert flag.far_address and not flag.other_device
    assert flag.addresses == ["10.1.0.5", "172.16.4.4"]
    assert office.get(ME).json()["code"] == ENDED
    assert elsewhere.get(ME).status_code == 200


# --- at use -------------------------------------------------------------------------------------------------------


@pytest.fixture
def every_use_touches(settings):
    """Every request writes the session's last use (the rule is judged only then)."""
    settings.AUTH_TOKEN_TOUCH_INTERVAL_S = 1
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield lambda: traveller.shift(dt.timedelta(seconds=2))


def test_one_session_used_from_far_apart_addresses_is_flagged_and_ended(poll_worker, two_tablets, every_use_touches):
    client, _ = tablet_sign_in(poll_worker, two_tablets[0], ip="10.1.0.5")
    since = last_audit_pk()
    every_use_touches()

    response = client.get(ME, REMOTE_ADDR="172.16.0.9")

    assert response.status_code == 401 and response.json()["code"] == ENDED
    session = ApiSession.objects.get(pk=client.session_pk)
    assert session.end_reason == "shared_logon" and session.last_ip_address == "172.16.0.9"
    flag = SharedLogonFlag.objects.get()
    assert flag.detected_on == "use" and flag.far_address and flag.action == "ended_session"
    assert flag.addresses == ["10.1.0.5", "172.16.0.9"] and list(flag.sessions.all()) == [session]
    assert audit_actions(since) == ["session.ended", "auth.shared_logon"]
    every_use_touches()
    assert client.get(ME, REMOTE_ADDR="10.1.0.5").json()["code"] == ENDED  # from either place, from now on


@pytest.mark.parametrize(
    ("there", "here"),
    [("10.1.0.5", "10.1.250.3"), ("2001:db8:1:2::1", "2001:db8:1:2::abcd"), ("2001:db8:1::1", "2001:db8:9::1")],
)
def test_near_addresses_are_not_flagged(poll_worker, two_tablets, every_use_touches, there, here):
    client, _ = tablet_sign_in(poll_worker, two_tablets[0], ip=there)
    every_use_touches()

    assert client.get(ME, REMOTE_ADDR=here).status_code == 200

    assert not SharedLogonFlag.objects.exists()
    assert ApiSession.objects.get(pk=client.session_pk).last_ip_address == here


def test_a_session_that_moved_after_the_window_is_not_flagged(poll_worker, two_tablets, settings):
    settings.AUTH_TOKEN_TOUCH_INTERVAL_S = 1
    client, _ = tablet_sign_in(poll_worker, two_tablets[0], ip="10.1.0.5")
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16)):
        assert client.get(ME, REMOTE_ADDR="172.16.0.9").status_code == 200
    assert not SharedLogonFlag.objects.exists()
    assert ApiSession.objects.get(pk=client.session_pk).last_ip_address == "172.16.0.9"


def test_between_touches_nothing_is_judged_or_written(poll_worker, two_tablets, django_assert_num_queries):
    client, _ = tablet_sign_in(poll_worker, two_tablets[0], ip="10.1.0.5")
    client.get(ME)  # the view's own queries, once
    session = ApiSession.objects.get(pk=client.session_pk)

    request = Request(
        APIRequestFactory().get(
            ME,
            HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"],
            HTTP_X_DEVICE_ID=str(session.client_device_id),
            REMOTE_ADDR="172.16.0.9",
        )
    )
    with django_assert_num_queries(1):  # the session lookup: far away, but within the touch interval
        TokenAuthentication().authenticate(request)
    assert not SharedLogonFlag.objects.exists()


def test_under_the_flag_policy_a_shared_session_is_flagged_once_per_window(
    settings, poll_worker, two_tablets, every_use_touches
):
    settings.SHARED_LOGON_POLICY = "flag"
    client, _ = tablet_sign_in(poll_worker, two_tablets[0], ip="10.1.0.5")
    for here in ["172.16.0.9", "10.1.0.5", "172.16.0.9"]:
        every_use_touches()
        assert client.get(ME, REMOTE_ADDR=here).status_code == 200

    flag = SharedLogonFlag.objects.get()
    assert flag.action == "flagged" and flag.detected_on == "use"
    assert ApiSession.objects.get(pk=client.session_pk).is_live()


def test_a_session_opened_without_an_address_learns_it_on_first_use(poll_worker, every_use_touches):
    client = signed_in(poll_worker)
    every_use_touches()
    assert client.get(ME, REMOTE_ADDR="10.1.0.5").status_code == 200
    every_use_touches()
    assert client.get(ME, REMOTE_ADDR="10.1.3.3").status_code == 200
    assert not SharedLogonFlag.objects.exists()


def test_a_session_ended_meanwhile_for_another_reason_keeps_that_reason(poll_worker, two_tablets):
    client, _ = tablet_sign_in(poll_worker, two_tablets[0], ip="10.1.0.5")
    stale = ApiSession.objects.get(pk=client.session_pk)  # as authentication read it, just before …
    client.delete(TOKEN)  # … another request signed out

    actor = Actor(user=poll_worker, ip_address="172.16.0.9")
    assert shared_logon_at_use(actor=actor, session=stale, ip="172.16.0.9", now=timezone.now()) == "logout"
    assert not SharedLogonFlag.objects.exists()


def test_the_admin_site_lists_flags_read_only(flagged, admin_client):
    page = admin_client.get("/admin/accounts/sharedlogonflag/")
    assert page.status_code == 200 and flagged.user.username in page.content.decode()
    assert admin_client.get("/admin/accounts/sharedlogonflag/add/").status_code == 403


# --- who sees what ------------------------------------------------------------------------------------------------


@pytest.fixture
def flagged(poll_worker, two_tablets):
    """The poll worker signed in on two tablets: the older session ended, the newer one is ``flagged.client``."""
    tablet_sign_in(poll_worker, two_tablets[0])
    client, _ = tablet_sign_in(poll_worker, two_tablets[1])
    flag = SharedLogonFlag.objects.get()
    flag.client = client
    return flag


def test_the_person_sees_why_their_session_ended(flagged):
    rows = flagged.client.get(SESSIONS, {"include_ended": "1"}).json()["results"]

    ended = next(r for r in rows if not r["live"])
    assert ended["end_reason"] == "shared_logon"
    assert "in use at the same time on another device" in ended["end_reason_detail"]
    live = next(r for r in rows if r["live"])
    assert live["end_reason"] == "" and live["end_reason_detail"] == ""


def test_the_commissioner_of_the_county_sees_the_flag(flagged, commissioner, poll_worker):
    client = signed_in(commissioner)

    page = client.get(FLAGS).json()
    assert [row["id"] for row in page["results"]] == [flagged.pk]
    row = page["results"][0]
    assert row["username"] == poll_worker.username and row["action"] == "ended_older"
    assert row["other_device"] is True and len(row["devices"]) == 2 and len(row["sessions"]) == 2
    assert client.get(f"{FLAGS}{flagged.pk}/").json()["id"] == flagged.pk
    assert client.get(FLAGS, {"user": poll_worker.pk}).json()["count"] == 1
    assert (
        client.get(FLAGS, {"since": (flagged.detected_at + dt.timedelta(seconds=1)).isoformat()}).json()["count"] == 0
    )


def test_the_state_administrator_sees_the_flag(flagged, state_admin):
    assert signed_in(state_admin).get(FLAGS).json()["count"] == 1


def test_another_countys_commissioner_does_not(flagged, other_county_commissioner):
    client = signed_in(other_county_commissioner)
    assert client.get(FLAGS).json()["count"] == 0
    response = client.get(f"{FLAGS}{flagged.pk}/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_poll_workers_and_anonymous_callers_cannot_list_flags(flagged, poll_worker, api):
    refused = flagged.client.get(FLAGS)
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert api.get(FLAGS).status_code == 401
    assert api.get(f"{FLAGS}{flagged.pk}/").status_code == 401


@pytest.mark.parametrize("query", [{"since": "yesterday"}, {"user": "x"}, {"user": "9" * 30}])
def test_bad_filters_are_400(commissioner, query):
    response = signed_in(commissioner).get(FLAGS, query)
    assert response.status_code == 400 and response.json()["code"]


def test_an_unknown_or_huge_flag_id_is_404(commissioner):
    client = signed_in(commissioner)
    assert client.get(f"{FLAGS}999999/").status_code == 404
    assert client.get(f"{FLAGS}{'9' * 30}/").status_code == 404


def test_the_report_counts_them(flagged):
    assert list(shared_logons_since(flagged.detected_at - dt.timedelta(minutes=1))) == [flagged]
    assert shared_logons_since(flagged.detected_at + dt.timedelta(seconds=1)).count() == 0


# --- two sign-ins at once (PostgreSQL: separate connections, committed transactions) ------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent connections (PostgreSQL)")
def test_two_sign_ins_at_the_same_moment_on_two_tablets_are_judged_one_after_the_other():
    seed_reference_data()
    county = CountyFactory(jurisdiction=Jurisdiction.objects.get(code="MS"))
    place = PollingPlaceFactory(county=county)
    today = dt.datetime.now(zoneinfo.ZoneInfo("America/Chicago")).date()
    election = ElectionFactory(jurisdiction=county.jurisdiction, date=today)
    worker = grant(UserFactory(username="racer"), Role.POLL_WORKER, polling_place=place, election=election)
    boss = UserFactory(username="boss")
    tablets = [make_tablet(place, boss, label=f"Table {i}") for i in range(2)]

    def sign_in(i: int) -> int:
        return tablet_sign_in(worker, tablets[i])[1].status_code

    assert in_parallel(2, sign_in) == [200, 200]
    assert SharedLogonFlag.objects.count() == 1
    assert ApiSession.objects.filter(user=worker, ended_at__isnull=True).count() == 1

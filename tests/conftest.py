import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Each test starts like a fresh server process: no spatial index, no throttle counters.

    (Tests roll their writes back without raising the geography version, which no real write path can do.)
    """
    from polling.geography import spatial

    spatial.reset_index()
    cache.clear()
    yield
    spatial.reset_index()


@pytest.fixture
def mississippi(db):
    from polling.models import Jurisdiction

    return Jurisdiction.objects.get(code="MS")


def sign_in_to_admin(client, user, password):
    """Sign ``user`` in to the admin site the real way: password plus a one-time code (OTPAdminSite)."""
    from django_otp.plugins.otp_static.models import StaticDevice

    device = StaticDevice.objects.create(user=user, name="backup")
    device.token_set.create(token="admintest1")
    response = client.post(
        "/admin/login/",
        {
            "username": user.username,
            "password": password,
            "otp_device": device.persistent_id,
            "otp_token": "admintest1",
            "next": "/admin/",
        },
    )
    assert response.status_code == 302, response.content[:500]
    return client


@pytest.fixture
def admin_client(db, admin_user, client):
    return sign_in_to_admin(client, admin_user, "password")

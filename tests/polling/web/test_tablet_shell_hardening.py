"""The tablet app's page, service worker and manifest, anonymously: static, under the CSP, never caching API answers,
refusing writes."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/tablet/", "/tablet/sw.js", "/tablet/manifest.webmanifest"])
def test_tablet_shell_is_anonymous_static_and_under_csp(path):
    response = Client().get(path)
    assert response.status_code == 200, (path, response.status_code)
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe" not in csp, csp
    text = response.content.decode()
    for secret in ("token", "secret", "holder_name"):
        if path.endswith(".webmanifest"):
            assert secret not in text


def test_service_worker_never_caches_api_answers():
    text = Client().get("/tablet/sw.js").content.decode()
    assert 'url.pathname.startsWith("/api/")' in text
    assert "cache.put" not in text  # only the shell list is cached at install


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_tablet_shell_refuses_writes(method):
    assert getattr(Client(), method)("/tablet/sw.js").status_code == 405

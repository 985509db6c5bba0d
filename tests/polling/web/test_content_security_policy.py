"""A strict Content-Security-Policy on every answer: pages, admin, API, docs, static files and every error page.

The browser side (nothing blocked, no payload runs) is tested in Chromium in tests/e2e/test_security_e2e.py.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import path

from polling.web.views import tile_source

pytestmark = pytest.mark.django_db

#: Every directive the policy must carry, with exactly these sources (img-src may add the tile host on the map).
REQUIRED = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "object-src": {"'none'"},
    "base-uri": {"'none'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}


def policy(response) -> dict[str, set[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.status_code} {response.get('Content-Type')}"
    directives: dict[str, set[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        assert name not in directives, f"{name} given twice"
        directives[name] = set(sources)
    return directives


def assert_strict(response, *, extra_img: set[str] = frozenset()) -> None:
    got = policy(response)
    for name, sources in REQUIRED.items():
        expected = sources | extra_img if name == "img-src" else sources
        assert got.get(name) == expected, f"{name}: {got.get(name)} on {response.request['PATH_INFO']}"
    for sources in got.values():
        assert not sources & {"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"}, got


class _Inline(HTMLParser):
    """Inline script, inline styles and event-handler attributes: what the policy would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {k for k, _ in attrs}
        if tag == "script" and "src" not in names and dict(attrs).get("type") != "application/json":
            self._open = "script"
        if tag == "style":
            self.found.append("<style>")
        self.found += [f"<{tag} {k}>" for k in names if k.startswith("on") or k == "style"]

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self.found.append(f"inline <{self._open}>: {data.strip()[:60]}")


def inline_parts(html: str) -> list[str]:
    parser = _Inline()
    parser.feed(html)
    return parser.found


# ---- the header on every kind of answer ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/map/", 200),
        ("/", 302),
        ("/admin/login/", 200),
        ("/admin/", 302),
        ("/api/v1/precincts/", 200),
        ("/api/v1/lookup/?lat=32.3&lon=-90.2", 404),
        ("/api/v1/lookup/?lat=north&lon=-90.2", 400),
        ("/api/v1/credentials/", 401),
        ("/api/v1/schema/", 200),
        ("/api/docs/", 200),
        ("/api/docs/?script=", 200),
        ("/no-such-page/", 404),
        ("/api/v1/no-such-thing/", 404),
        ("/api/v1/lookup/?lat=" + "1" * 5000, 414),
    ],
)
def test_every_answer_carries_the_strict_policy(client, url, status):
    response = client.get(url)
    assert response.status_code == status
    assert_strict(response)


@pytest.mark.parametrize("url", ["/static/polling/favicon.svg", "/static/polling/map.js"])
def test_static_files_carry_it(settings, url):
    from django.test import Client

    settings.WHITENOISE_USE_FINDERS = True  # WhiteNoise reads it when a new client builds the middleware chain
    response = Client().get(url)
    assert response.status_code == 200
    assert_strict(response)


def test_refused_methods_and_csrf_failures_carry_it_too(client):
    assert_strict(client.post("/map/"))  # 405
    assert client.post("/map/").status_code == 405
    csrf_client = type(client)(enforce_csrf_checks=True)
    response = csrf_client.post("/admin/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert_strict(response)


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


urlpatterns = [path("boom/", _boom)]
handler500 = "config.views.server_error"


def test_a_server_error_page_carries_it(client, settings):
    settings.ROOT_URLCONF = __name__
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == 500
    assert_strict(response)


def test_the_policy_is_sent_with_debug_off(settings):
    # django-csp leaves 404 and 500 answers bare when DEBUG is on; production (and these tests) run with it off.
    assert settings.DEBUG is False


# ---- the map page: tile host, nothing inline ----------------------------------------------------------------


def test_map_without_tiles_allows_images_from_this_site_only(client, settings):
    settings.MAP_TILE_URL = ""
    assert_strict(client.get("/map/"))


def test_map_with_tiles_allows_their_host_and_nothing_more(client, settings):
    settings.MAP_TILE_URL = "https://{s}.tiles.example.test/{z}/{x}/{y}.png"
    response = client.get("/map/")
    assert_strict(response, extra_img={"https://*.tiles.example.test"})
    # Only the map page needs it.
    assert_strict(client.get("/api/docs/"))


def test_a_tile_url_that_would_widen_the_policy_is_not_copied_into_it(client, settings, caplog):
    settings.MAP_TILE_URL = "https://tiles.example.test; script-src *"
    response = client.get("/map/")
    assert_strict(response)
    assert "script-src *" not in response["Content-Security-Policy"]
    assert "MAP_TILE_URL" in caplog.text


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("", None),
        ("/tiles/{z}/{x}/{y}.png", None),
        ("https://tile.example.org/{z}/{x}/{y}.png", "https://tile.example.org"),
        ("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png", "https://*.tile.openstreetmap.org"),
        ("https://tile-{s}.example.org/{z}/{x}/{y}.png", "https://*.example.org"),
        ("HTTP://Tiles.Example.test:8080/{z}/{x}/{y}.png?key=a&b=1", "http://tiles.example.test:8080"),
        ("https://tiles.example.test", "https://tiles.example.test"),
        ("//tiles.example.test/{z}/{x}/{y}.png", "tiles.example.test"),
        ("https://tiles.example.test; script-src *", None),
        ("https://tiles example.test/{z}", None),
        ("javascript:alert(1)", None),
        ("data:image/png;base64,AAAA", None),
        ("https://user:pw@tiles.example.test/{z}", None),
        ("https://{s}.org/{z}", None),
        ("https://tiles.example.test:99999/{z}", None),
    ],
)
def test_tile_source(url, source):
    assert tile_source(url) == source


def test_map_page_has_no_inline_script_style_or_handlers(client):
    assert inline_parts(client.get("/map/").content.decode()) == []


# ---- the API docs: Swagger UI with no inline script or style --------------------------------------------------


def test_api_docs_page_loads_its_start_up_script_from_this_site(client):
    html = client.get("/api/docs/").content.decode()
    assert inline_parts(html) == []
    assert 'src="/api/docs/?script="' in html
    assert "/static/polling/api_docs.css" in html
    script = client.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    body = script.content.decode()
    assert "SwaggerUIBundle(" in body and "/api/v1/schema/" in body
    assert '"validatorUrl": null' in body, "no badge image from validator.swagger.io"


def test_admin_login_page_has_no_inline_script_style_or_handlers(client):
    assert inline_parts(client.get("/admin/login/").content.decode()) == []

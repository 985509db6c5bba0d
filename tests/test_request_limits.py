"""A declared body over the application's limit is refused with 413 before any view parses it; a body the proxy let
through is read and thrown away first (a proxy still sending it would see the connection reset and answer 502), a
larger one is not waited for."""

from __future__ import annotations

import io
import json

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.test import RequestFactory

from config.middleware import DISCARD_REFUSED_BODY_BYTES, RequestLimitsMiddleware


def _request(body_length: int, declared: int | None = None) -> tuple[WSGIRequest, io.BytesIO]:
    stream = io.BytesIO(b"x" * body_length)
    environ = RequestFactory()._base_environ(
        PATH_INFO="/api/v1/auth/token/",
        REQUEST_METHOD="POST",
        CONTENT_TYPE="application/json",
        CONTENT_LENGTH=str(body_length if declared is None else declared),
    )
    environ["wsgi.input"] = stream
    return WSGIRequest(environ), stream


def _never_called(request):  # pragma: no cover - must not run
    raise AssertionError("the view ran")


@pytest.mark.parametrize("size", [2_621_441, 3 * 1024 * 1024, DISCARD_REFUSED_BODY_BYTES])
def test_a_refused_body_the_proxy_let_through_is_read_before_the_answer(settings, size):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    request, stream = _request(size)

    response = RequestLimitsMiddleware(_never_called)(request)

    assert response.status_code == 413 and json.loads(response.content)["code"] == "body_too_large"
    assert stream.tell() == size  # all of it read (and nothing kept: the response does not grow with it)


def test_a_larger_declared_body_is_not_waited_for(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    request, stream = _request(1024, declared=DISCARD_REFUSED_BODY_BYTES + 1)

    response = RequestLimitsMiddleware(_never_called)(request)

    assert response.status_code == 413 and stream.tell() == 0


def test_a_body_shorter_than_declared_is_answered_without_hanging(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    request, stream = _request(3_000_000, declared=4_000_000)

    response = RequestLimitsMiddleware(_never_called)(request)

    assert response.status_code == 413 and stream.tell() == 3_000_000


def test_a_body_within_the_limit_reaches_the_view_unread(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    request, _ = _request(1000)

    response = RequestLimitsMiddleware(lambda r: HttpResponse(r.body[:3]))(request)

    assert response.status_code == 200 and response.content == b"xxx"

"""The benchmarks' baselines. ``POST /bench/ping/``: authenticated exactly like a check-in (same authentication and
permission classes), then one INSERT and 201: the floor under which no tablet write on this stack can go.
``GET /bench/trivial/``: a public answer with no work in it, the ceiling for the public lookups."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiSession
from bench.baseline.models import Ping
from polling.api.presence_views import CheckInView
from polling.api.views import LookupView


class PingView(APIView):
    authentication_classes = CheckInView.authentication_classes
    permission_classes = CheckInView.permission_classes

    def post(self, request: Request) -> Response:
        session = request.auth if isinstance(request.auth, ApiSession) else None
        if session is None or session.device is None:
            raise exceptions.PermissionDenied("Pings come from an enrolled tablet.")
        payload = request.data if isinstance(request.data, dict) else {}
        ping = Ping.objects.create(
            device=session.device, worker=request.user, created_at=timezone.now(), payload=payload
        )
        return Response({"id": ping.pk, "created_at": ping.created_at.isoformat()}, status=201)


class TrivialView(APIView):
    """``GET /bench/trivial/``: the public lookups' framework path (same authentication, permission and throttle
    classes, same renderer) answering a tiny JSON with no work at all — the ceiling for any public answer on this
    server (bench/national.py)."""

    authentication_classes = LookupView.authentication_classes
    permission_classes = LookupView.permission_classes
    throttle_classes = LookupView.throttle_classes

    def get(self, request: Request) -> Response:
        return Response({"ok": True})

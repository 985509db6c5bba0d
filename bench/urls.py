"""The product's URLs plus the benchmark's baseline ``POST /bench/ping/`` (bench.settings only)."""

from django.urls import include, path

from bench.baseline.views import PingView
from config.urls import handler400, handler403, handler404, handler500

urlpatterns = [
    path("bench/ping/", PingView.as_view(), name="bench-ping"),
    path("", include("config.urls")),
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

"""The product's URLs plus the benchmarks' baselines ``POST /bench/ping/`` and ``GET /bench/trivial/`` (bench.settings
only)."""

from django.urls import include, path

from bench.baseline.views import PingView, TrivialView
from config.urls import handler400, handler403, handler404, handler500

urlpatterns = [
    path("bench/ping/", PingView.as_view(), name="bench-ping"),
    path("bench/trivial/", TrivialView.as_view(), name="bench-trivial"),
    path("", include("config.urls")),
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

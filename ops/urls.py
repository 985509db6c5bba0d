"""Health paths, mounted at the root by ``config.urls`` (no trailing slash: probes name them exactly)."""

from django.urls import path

from ops import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]

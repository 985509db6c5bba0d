from django.urls import path

from polling.web.tablet import views

urlpatterns = [
    path("", views.tablet_page, name="tablet"),
    path("sw.js", views.service_worker, name="tablet-sw"),
    path("manifest.webmanifest", views.manifest, name="tablet-manifest"),
]

from django.urls import include, path

from polling.api import views

urlpatterns = [
    path("incidents/", include("polling.api.incident_urls")),
    path("lookup/", views.LookupView.as_view(), name="lookup"),
    path("compliance/", views.ComplianceView.as_view(), name="compliance"),
    path("elections/", include("polling.api.election_urls")),
    path("counties/", views.CountyListView.as_view(), name="county-list"),
    path("precincts/", views.PrecinctListView.as_view(), name="precinct-list"),
    path("precincts/<int:pk>/", views.PrecinctDetailView.as_view(), name="precinct-detail"),
    path("polling-places/", views.PollingPlaceListView.as_view(), name="pollingplace-list"),
    path("polling-places/<int:pk>/", views.PollingPlaceDetailView.as_view(), name="pollingplace-detail"),
    path("polling-places/<int:pk>/zones/", views.ZonesView.as_view(), name="pollingplace-zones"),
    path("zones/", views.ZonesInBoxView.as_view(), name="zones-in-box"),
    path("", include("polling.api.presence_urls")),
    path("", include("polling.api.tablet_urls")),
]

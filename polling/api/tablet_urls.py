from django.urls import path

from polling.api import tablet_views as views

urlpatterns = [
    path(
        "polling-places/<int:pk>/credential-holders/",
        views.CredentialHoldersView.as_view(),
        name="pollingplace-credential-holders",
    ),
]

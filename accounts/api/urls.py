"""Staff API (token authentication, scoped per role). Paths are the contract in docs/api.md."""

from django.urls import include, path

urlpatterns = [
    path("auth/", include("accounts.api.auth_urls")),
    path("credentials/", include("accounts.api.credential_urls")),
]

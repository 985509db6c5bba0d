"""Credentials for poll watchers and observers: /api/v1/credentials/… (see ``credential_views``,
``credential_csv_views`` and ``credential_check_views``)."""

from django.urls import path

from accounts.api import credential_check_views as check
from accounts.api import credential_csv_views as files
from accounts.api import credential_views as views

urlpatterns = [
    path("", views.CredentialListView.as_view(), name="credential-list"),
    path("keys/", check.SigningKeysView.as_view(), name="credential-keys"),
    path("revoked/", check.RevokedView.as_view(), name="credential-revoked"),
    path("scope-hashes/", check.ScopeHashesView.as_view(), name="credential-scope-hashes"),
    path("verify/", check.VerifyView.as_view(), name="credential-verify"),
    path("import/", files.CredentialImportView.as_view(), name="credential-import"),
    path("export.csv", files.CredentialExportView.as_view(), name="credential-export"),
    path("<int:pk>/", views.CredentialDetailView.as_view(), name="credential-detail"),
    path("<int:pk>/revoke/", views.CredentialRevokeView.as_view(), name="credential-revoke"),
    path("<int:pk>/qr.svg", views.CredentialQrView.as_view(), name="credential-qr"),
    path("<int:pk>/badge.pdf", views.CredentialBadgeView.as_view(), name="credential-badge"),
]

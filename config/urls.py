from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView

from ops.admin_views import admin_security_report
from ops.api import SecurityReportView
from ops.metrics import metrics_view
from polling.web.views import ApiDocsView

# The admin site asks for a second factor too: a password alone never opens it (django-otp's OTPAdminSite).
admin.site.__class__ = OTPAdminSite

admin.site.site_header = "Polling-place administration"
admin.site.site_title = "Polling-place administration"
admin.site.index_title = "Geography and elections"

urlpatterns = [
    path("", RedirectView.as_view(url="/map/", permanent=False)),
    path("", include("ops.urls")),  # /healthz, /readyz
    path("admin/security-report/", admin_security_report, name="admin-security-report"),
    path("admin/", admin.site.urls),
    path("api/v1/security/report/", SecurityReportView.as_view(), name="security-report"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include("polling.api.urls")),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("guard.api.urls")),  # /api/v1/security/blocks/ (intrusion prevention)
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI without inline script (the start-up script is ?script): the CSP forbids inline script.
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("", include("polling.web.urls")),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.not_found"
handler500 = "config.views.server_error"

"""The security report in the admin site, for state administrators (and superusers)."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.scopes import Scope
from ops.report import BadSpan, build_report, parse_span


def security_report_view(request: HttpRequest) -> HttpResponse:
    scope = Scope.for_user(request.user)
    if not (request.user.is_superuser or scope.jurisdictions):
        raise PermissionDenied
    since = request.GET.get("since", "24h")
    try:
        span = parse_span(since)
        error = ""
    except BadSpan as exc:
        span, since, error = parse_span("24h"), "24h", str(exc)
    context = {
        **admin.site.each_context(request),
        "title": "Security report",
        "report": build_report(span=span, scope=None if request.user.is_superuser else scope),
        "since": since,
        "error": error,
    }
    response = TemplateResponse(request, "ops/security_report.html", context)
    response["Cache-Control"] = "no-store"
    return response


#: Wrapped by the admin site: staff login with a verified second factor (OTPAdminSite), then the role check above.
admin_security_report = admin.site.admin_view(security_report_view)

"""Delivering the security report: by e-mail through Django's mail settings."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage

from ops.report import SecurityReport, render_text, report_json


def email_report(report: SecurityReport) -> list[str]:
    """Send the report (text body, JSON attached) to ``SECURITY_REPORT_RECIPIENTS``; returns the recipients.
    The subject says at a glance whether anything needs a person."""
    recipients = list(getattr(settings, "SECURITY_REPORT_RECIPIENTS", []))
    if not recipients:
        raise ImproperlyConfigured("SECURITY_REPORT_RECIPIENTS is empty: nobody to send the report to.")
    state = "NEEDS A PERSON" if report.needs_attention else "all clear"
    subject = f"{settings.EMAIL_SUBJECT_PREFIX}Security report {report.until:%Y-%m-%d}: {state}"
    message = EmailMessage(subject=subject, body=render_text(report), to=recipients)
    message.attach(
        f"security-report-{report.until:%Y%m%dT%H%MZ}.json",
        json.dumps(report_json(report), indent=2, sort_keys=True),
        "application/json",
    )
    message.send(fail_silently=False)
    return recipients

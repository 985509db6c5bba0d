"""``python manage.py security_report [--since 24h] [--format text|json] [--email]``: the daily security report.

Exits 0 when nothing needs a person, 1 when something does (the reasons are the report's first lines), 2 on a
usage error — so a timer or a monitoring check can alert on the exit status alone.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.report import BadSpan, build_report, parse_span, render_text, report_json
from ops.reporting import email_report


class Command(BaseCommand):
    help = "Print (and optionally e-mail) the security report; exit 1 when something needs a person."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", default="24h", help="Window ending now: 90m, 24h, 7d (default 24h).")
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument(
            "--email",
            action="store_true",
            help="Also send the report to SECURITY_REPORT_RECIPIENTS through Django's mail settings.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            span = parse_span(options["since"])
        except BadSpan as exc:
            raise CommandError(str(exc), returncode=2) from None
        report = build_report(span=span)
        if options["format"] == "json":
            self.stdout.write(json.dumps(report_json(report), indent=2, sort_keys=True))
        else:
            self.stdout.write(render_text(report), ending="")
        if options["email"]:
            sent_to = email_report(report)
            self.stderr.write(f"Report e-mailed to {', '.join(sent_to)}.")
        if not report.ok:
            self.stderr.write("Needs a person: " + " ".join(report.needs_attention))
            sys.exit(1)

"""Paper fallback documents: the check-in log and the roster of a polling place, as CSV and printable PDF."""

from __future__ import annotations

import csv
import io
import zoneinfo
from typing import Any

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import landscape, letter
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from polling.election_day.roster import roster
from polling.geography.selectors import local_zone
from polling.models import Election, PollingPlace, PresenceEvent

LOG_HEADER = ["clock (HLC)", "local time", "event", "outcome", "reason", "serial", "holder", "kind", "appointed by",
              "poll worker", "tablet", "event id"]  # fmt: skip
ROSTER_HEADER = ["serial", "holder", "kind", "appointed by", "inside since (local)", "checked in by", "sign out (hand)"]


def _local(value: Any, zone: zoneinfo.ZoneInfo) -> str:
    return timezone.localtime(value, zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _appointer(credential: Any) -> str:
    if credential is None or not credential.appointed_by_name:
        return ""
    return f"{credential.appointed_by_name} ({credential.appointed_by_kind})"


def log_rows(place: PollingPlace, election: Election) -> tuple[str, list[str], list[list[str]]]:
    zone = local_zone(place.county)
    events = (
        PresenceEvent.objects.filter(polling_place=place, election=election)
        .select_related("credential", "worker", "device")
        .order_by("hlc", "pk")
    )
    rows = [
        [
            str(e.hlc),
            _local(e.occurred_at, zone),
            e.get_kind_display(),
            e.outcome,
            e.reason,
            e.credential.serial if e.credential else "",
            e.credential.holder_name if e.credential else "",
            e.credential.get_kind_display() if e.credential else "",
            _appointer(e.credential),
            e.worker.get_full_name() or e.worker.get_username(),
            e.device.label,
            str(e.event_id),
        ]
        for e in events
    ]
    return "Check-in log", LOG_HEADER, rows


def roster_rows(place: PollingPlace, election: Election) -> tuple[str, list[str], list[list[str]]]:
    zone = local_zone(place.county)
    rows = [
        [
            p.credential.serial,
            p.credential.holder_name,
            p.credential.get_kind_display(),
            _appointer(p.credential),
            _local(p.check_in.occurred_at, zone),
            p.check_in.worker.get_full_name() or p.check_in.worker.get_username(),
            "",
        ]
        for p in roster(place, election)
    ]
    return "Who is inside now", ROSTER_HEADER, rows


def _cell(value: str) -> str:
    # A cell a spreadsheet would run as a formula is written as text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def as_csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return out.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheet programs read UTF-8


def as_pdf(title: str, subtitle: str, header: list[str], rows: list[list[str]]) -> bytes:
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7.5, leading=9)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=landscape(letter), leftMargin=0.4 * inch, rightMargin=0.4 * inch,
        topMargin=0.5 * inch, bottomMargin=0.5 * inch, title=title,
    )  # fmt: skip
    generated = timezone.now().strftime("%Y-%m-%d %H:%M UTC")
    table = Table(
        [[Paragraph(f"<b>{h}</b>", small) for h in header]]
        + [[Paragraph(_escape(v), small) for v in row] for row in rows or [["(none)"] + [""] * (len(header) - 1)]],
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )

    def footer(canvas: Any, doc: Any) -> None:
        canvas.setFont("Helvetica", 7)
        canvas.drawString(0.4 * inch, 0.3 * inch, f"{title} — printed {generated} — page {doc.page}")

    document.build(
        [
            Paragraph(_escape(title), styles["Title"]),
            Paragraph(_escape(subtitle), styles["BodyText"]),
            Spacer(1, 0.15 * inch),
            table,
        ],
        onFirstPage=footer,
        onLaterPages=footer,
    )
    return buffer.getvalue()


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

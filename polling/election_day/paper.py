"""Paper fallback documents: the check-in log and the roster of a polling place, as CSV and printable PDF."""

from __future__ import annotations

import csv
import functools
import io
import zoneinfo
from typing import Any

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import landscape, letter
from reportlab.lib.units import inch
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from common.spreadsheet import formula_safe
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
    # A cell a spreadsheet would run as a formula is written as text (the one guard of every CSV export).
    return formula_safe(value)


def as_csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return out.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheet programs read UTF-8


#: A PDF lists at most this many rows (the latest; ~290 pages): it is for printing, and stays fast at any log size.
#: The CSV holds every row.
MAX_PDF_ROWS = 10_000
_PAGE = landscape(letter)
_MARGIN: float = 0.4 * inch
_FONT, _BOLD, _SIZE = "Helvetica", "Helvetica-Bold", 7
_ROW = 10.5  # points per row: one line per cell, clipped to its column


@functools.lru_cache(maxsize=4096)
def _clip(text: str, width: float, font: str = _FONT) -> str:
    """``text`` on one line, cut with an ellipsis to fit ``width`` points."""
    text = " ".join(text.split())
    if float(stringWidth(text, font, _SIZE)) <= width:
        return text
    while text and stringWidth(text + "…", font, _SIZE) > width:
        text = text[: max(0, min(len(text) - 1, int(len(text) * width / max(stringWidth(text, font, _SIZE), 1))))]
    return text + "…"


def _widths(header: list[str], rows: list[list[str]], total: float) -> list[float]:
    """Column widths in proportion to the longest text of each column (in the header and the first 200 rows)."""
    sample = [header, *rows[:200]]
    longest = [max(min(len(r[i]) if i < len(r) else 0, 40) for r in sample) + 2 for i in range(len(header))]
    return [total * n / sum(longest) for n in longest]


def as_pdf(title: str, subtitle: str, header: list[str], rows: list[list[str]]) -> bytes:
    """A printable table drawn line by line on the canvas (no layout engine): linear in the rows, about a second
    for ``MAX_PDF_ROWS``. Each cell is one line, clipped with an ellipsis; a longer log keeps its latest rows and says
    how many earlier ones only the CSV holds."""
    omitted = max(0, len(rows) - MAX_PDF_ROWS)
    rows = rows[omitted:]
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=_PAGE, pageCompression=1)
    pdf.setTitle(title)
    width, height = float(_PAGE[0]), float(_PAGE[1])
    usable = width - 2 * _MARGIN
    columns = _widths(header, rows, usable)
    starts = [_MARGIN + sum(columns[:i]) for i in range(len(columns))]
    generated = timezone.now().strftime("%Y-%m-%d %H:%M UTC")
    page = 0

    def new_page() -> float:
        nonlocal page
        if page:
            pdf.showPage()
        page += 1
        y = height - _MARGIN
        if page == 1:
            pdf.setFont(_BOLD, 14)
            pdf.drawString(_MARGIN, y - 10, _clip(title, usable, _BOLD)[:200])
            pdf.setFont(_FONT, 9)
            pdf.drawString(_MARGIN, y - 24, _clip(subtitle, usable * _SIZE / 9))
            y -= 34
            if omitted:
                pdf.drawString(_MARGIN, y - 2, f"{omitted} earlier rows are not printed here: the CSV holds every row.")
                y -= 14
        pdf.setFont(_FONT, 7)
        pdf.drawString(_MARGIN, 0.3 * inch, f"{title} — printed {generated} — page {page}")
        pdf.setFillColor(colors.lightgrey)
        pdf.rect(_MARGIN, y - _ROW, usable, _ROW, stroke=0, fill=1)
        pdf.setFillColor(colors.black)
        pdf.setFont(_BOLD, _SIZE)
        for x, w, h in zip(starts, columns, header, strict=True):
            pdf.drawString(x + 1.5, y - _ROW + 3, _clip(h, w - 3, _BOLD))
        pdf.setFont(_FONT, _SIZE)
        return y - _ROW

    y = new_page()
    pdf.setStrokeColor(colors.grey)
    pdf.setLineWidth(0.3)
    for row in rows or [["(none)"] + [""] * (len(header) - 1)]:
        if y - _ROW < _MARGIN:
            y = new_page()
        y -= _ROW
        for x, w, value in zip(starts, columns, row, strict=False):
            if value:
                pdf.drawString(x + 1.5, y + 3, _clip(value, w - 3))
        pdf.line(_MARGIN, y, _MARGIN + usable, y)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()

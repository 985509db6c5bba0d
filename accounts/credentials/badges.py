"""What gets printed: the token as a QR code (SVG, segno) and a 4 x 6 inch badge (PDF, reportlab).

The QR code is always a full QR symbol (never Micro QR) at error-correction level M or better; the token is base32,
so segno stores it in the alphanumeric mode.
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo

import segno
from reportlab.lib.units import inch
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen import canvas

from accounts.credentials import signing
from accounts.models import Credential

PAGE = (4 * inch, 6 * inch)
MARGIN = 0.25 * inch


def qr_code(token: str) -> segno.QRCode:
    return segno.make_qr(token, error="m", boost_error=True)


def qr_svg(token: str, *, scale: int = 4) -> bytes:
    out = io.BytesIO()
    qr_code(token).save(out, kind="svg", scale=scale, border=4, xmldecl=True, svgns=True, title="Credential QR code")
    return out.getvalue()


def _local(moment: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%a %d %b %Y %H:%M %Z")


def _scope_lines(credential: Credential) -> list[str]:
    county = credential.county
    places = sorted(credential.polling_places.all(), key=lambda p: p.code)
    if not places:
        return [f"County-wide: every polling place of {county.name} County ({county.fips})"]
    names = "; ".join(f"{p.code} {p.name}" for p in places)
    return [f"{len(places)} polling place{'s' if len(places) != 1 else ''} in {county.name} County: {names}"]


def _draw_qr(c: canvas.Canvas, token: str, x: float, y: float, size: float) -> None:
    """Dark modules as filled rectangles (runs merged per row), inside a quiet zone of four modules."""
    qr = qr_code(token)
    matrix = qr.matrix
    n = len(matrix)
    module = size / (n + 8)
    c.setFillColorRGB(1, 1, 1)
    c.rect(x, y, size, size, stroke=0, fill=1)
    c.setFillColorRGB(0, 0, 0)
    for row_index, row in enumerate(matrix):
        top = y + size - (row_index + 5) * module
        col = 0
        while col < n:
            if row[col]:
                start = col
                while col < n and row[col]:
                    col += 1
                c.rect(x + (start + 4) * module, top, (col - start) * module, module, stroke=0, fill=1)
            else:
                col += 1


def _fit(c: canvas.Canvas, text: str, font: str, size: float, width: float, minimum: float) -> tuple[float, list[str]]:
    """The largest font size (down to ``minimum``) at which ``text`` fits in two lines of ``width``."""
    while size > minimum and len(simpleSplit(text, font, size, width)) > 2:
        size -= 1
    return size, simpleSplit(text, font, size, width)[:3]


def badge_pdf(credential: Credential, token: str, *, zone: zoneinfo.ZoneInfo) -> bytes:
    """A 4 x 6 inch card: kind, holder, appointer, election, scope, validity, QR code and serial."""
    out = io.BytesIO()
    width, height = PAGE
    inner = width - 2 * MARGIN
    c = canvas.Canvas(out, pagesize=PAGE, pageCompression=1)
    c.setTitle(f"Credential {signing.format_serial(credential.serial)}")
    c.setAuthor(f"{credential.county.name} County election commission")
    c.setSubject(credential.get_kind_display())

    # Kind band
    c.setFillColorRGB(0.1, 0.2, 0.45)
    c.rect(0, height - 0.8 * inch, width, 0.8 * inch, stroke=0, fill=1)
    c.setFillColorRGB(1, 1, 1)
    c.setFont("Helvetica", 8)
    c.drawCentredString(
        width / 2, height - 0.28 * inch, f"OFFICIAL CREDENTIAL — {credential.county.name.upper()} COUNTY"
    )
    c.setFont("Helvetica-Bold", 20)
    c.drawCentredString(width / 2, height - 0.62 * inch, credential.get_kind_display().upper())

    c.setFillColorRGB(0, 0, 0)
    y = height - 0.8 * inch - 0.32 * inch
    size, lines = _fit(c, credential.holder_name, "Helvetica-Bold", 18, inner, 10)
    c.setFont("Helvetica-Bold", size)
    for line in lines:
        c.drawCentredString(width / 2, y, line)
        y -= size + 2

    c.setFont("Helvetica", 9)
    if credential.appointed_by_name:
        who = credential.get_appointed_by_kind_display().lower()
        for line in simpleSplit(f"Appointed by {who}: {credential.appointed_by_name}", "Helvetica", 9, inner)[:2]:
            c.drawCentredString(width / 2, y, line)
            y -= 11
    election = credential.election
    c.drawCentredString(width / 2, y, f"{election.name} — {election.date:%d %B %Y}")
    y -= 11
    c.setFont("Helvetica", 7.5)
    for line in simpleSplit(_scope_lines(credential)[0], "Helvetica", 7.5, inner)[:3]:
        c.drawCentredString(width / 2, y, line)
        y -= 9
    c.drawCentredString(width / 2, y, f"Valid from {_local(credential.valid_from, zone)}")
    y -= 9
    c.drawCentredString(width / 2, y, f"until {_local(credential.valid_until, zone)}")
    y -= 6

    qr_size = min(inner, y - 0.75 * inch)
    _draw_qr(c, token, (width - qr_size) / 2, y - qr_size, qr_size)
    y -= qr_size + 14
    c.setFont("Courier-Bold", 13)
    c.drawCentredString(width / 2, y, signing.format_serial(credential.serial))
    c.setFont("Helvetica", 6.5)
    c.drawCentredString(
        width / 2, MARGIN, "Show with photo ID. Poll workers: scan to verify; a revoked or expired credential fails."
    )
    c.showPage()
    c.save()
    return out.getvalue()

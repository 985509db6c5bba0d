"""Draw the tablet app's icons (polling/static/tablet/icon-192.png, icon-512.png): a white check mark on the app's
blue, inside the safe zone of a maskable icon. Run: .venv/bin/python scripts/tablet_icons.py"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "polling" / "static" / "tablet"
BLUE = (11, 61, 145)


def icon(size: int) -> Image.Image:
    image = Image.new("RGB", (size, size), BLUE)
    draw = ImageDraw.Draw(image)
    s = size / 100
    # Within the central 80 % (the maskable safe zone).
    draw.line([(30 * s, 52 * s), (45 * s, 67 * s), (72 * s, 36 * s)], fill="white", width=round(9 * s), joint="curve")
    return image


if __name__ == "__main__":
    for size in (192, 512):
        icon(size).save(OUT / f"icon-{size}.png", optimize=True)

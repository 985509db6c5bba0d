"""An incident's photo: the checks every upload passes, re-encoded without its metadata, stored under a random
name and read back. Never served but through the scoped API."""

from __future__ import annotations

import io
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from PIL import Image, ImageOps

from common.errors import DomainError
from polling.models.incidents import Incident

#: Sniffed from the first bytes, never taken from the declared type or the file name.
PHOTO_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
PHOTO_DIR = "incident-photos"


def sniff_format(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


@dataclass(frozen=True)
class CleanPhoto:
    """A photo decoded and re-encoded with no metadata (EXIF, GPS, XMP, ICC, text chunks all dropped)."""

    data: bytes
    content_type: str
    extension: str


def _invalid(detail: str) -> DomainError:
    return DomainError(detail, "invalid_photo", field="photo")


def photo_too_large(detail: str) -> DomainError:
    return DomainError(detail, "photo_too_large", field="photo")


def clean_photo(upload: Any) -> CleanPhoto:
    """Check an uploaded file (size, sniffed type, dimensions) and re-encode it without its metadata."""
    max_bytes = settings.INCIDENT_PHOTO_MAX_BYTES
    max_side = settings.INCIDENT_PHOTO_MAX_SIDE_PX
    if upload.size > max_bytes:
        raise photo_too_large(f"The photo is larger than {max_bytes // (1024 * 1024)} MB.")
    upload.seek(0)
    raw = upload.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise photo_too_large(f"The photo is larger than {max_bytes // (1024 * 1024)} MB.")
    kind = sniff_format(raw[:16])
    if kind is None:
        raise _invalid("The photo must be a JPEG, PNG or WebP image.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=[kind])
            if image.format != kind:
                raise _invalid("The photo must be a JPEG, PNG or WebP image.")
            width, height = image.size
            if width > max_side or height > max_side:
                raise photo_too_large(f"The photo may be at most {max_side} pixels on either side.")
            if getattr(image, "n_frames", 1) > 1:
                raise _invalid("Animated images are not accepted; send a single photo.")
            image.load()
            # Turn the pixels the way the camera meant, since the orientation tag goes with the rest of the EXIF.
            upright = ImageOps.exif_transpose(image)
            clean = Image.frombytes(upright.mode, upright.size, upright.tobytes())
            if upright.mode == "P":
                clean.putpalette(upright.getpalette() or [])
            out = io.BytesIO()
            options: dict[str, Any] = {"quality": 90} if kind in ("JPEG", "WEBP") else {"optimize": False}
            clean.save(out, format=kind, **options)
    except DomainError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise photo_too_large(f"The photo may be at most {max_side} pixels on either side.") from None
    except Exception:
        # Decoders raise many kinds of error on hostile or broken files; each one means "not a photo we take".
        raise _invalid("The photo could not be read as a JPEG, PNG or WebP image.") from None
    content_type, extension = PHOTO_FORMATS[kind]
    return CleanPhoto(data=out.getvalue(), content_type=content_type, extension=extension)


def photo_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def store_photo(photo: CleanPhoto) -> str:
    """Write the photo under a random name (128 bits) and return its path relative to MEDIA_ROOT."""
    relative = f"{PHOTO_DIR}/{secrets.token_hex(16)}.{photo.extension}"
    target = photo_root() / relative
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(target, "xb") as handle:
        handle.write(photo.data)
    return relative


def delete_photo(relative: str) -> None:
    (photo_root() / relative).unlink(missing_ok=True)


def photo_file(incident: Incident) -> Path | None:
    """The incident's photo file, if it has one and it is there (never a path outside the photo root)."""
    path = (photo_root() / incident.photo_path).resolve()
    if not incident.photo_path or photo_root().resolve() not in path.parents or not path.is_file():
        return None
    return path


def read_photo(incident: Incident) -> bytes:
    path = photo_file(incident)
    if path is None:
        raise DomainError("Not found.", "not_found")
    return path.read_bytes()

"""The one check of every name a person gives in accounts (a credential holder's and appointer's name, a user's
first and last name, a tablet's label): no control, format (zero-width, bidirectional), surrogate, private-use or
unassigned character (``common.text.unprintable``), refused with the stable code ``unprintable_characters`` naming
the field — as a model validator (the admin site, ``full_clean``) and as a service refusal (the API, CSV import)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from common.errors import DomainError
from common.text import unprintable

UNPRINTABLE = "unprintable_characters"


def unprintable_message(value: str) -> str | None:
    """Why ``value`` cannot be a name, or None when it can."""
    found = unprintable(value)
    if not found:
        return None
    shown = ", ".join(found[:3]) + (", …" if len(found) > 3 else "")
    return f"A name cannot hold control or invisible formatting characters ({shown})."


def validate_printable(value: str) -> None:
    """A Django field validator: refuses (code ``unprintable_characters``) a name holding unprintable characters."""
    message = unprintable_message(value or "")
    if message is not None:
        raise ValidationError(message, code=UNPRINTABLE)


def require_printable(**names: str) -> None:
    """Refuse with ``unprintable_characters`` on the first field (keyword name) whose value holds unprintable
    characters."""
    for field, value in names.items():
        message = unprintable_message(value or "")
        if message is not None:
            raise DomainError(message, UNPRINTABLE, field=field)

"""A model's field-keyed validation errors as one refusal, shaped as the API shapes a serializer's errors.

Services validate with the model's ``full_clean`` (and their own checks); what fails is refused with the code
``invalid``, the first message as ``detail`` and every field's messages under ``errors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from common.errors import DomainError

NON_FIELD = "non_field_errors"


def invalid_fields(errors: Mapping[str, Sequence[str]]) -> DomainError:
    """``{field: [message, …]}`` (``__all__`` read as ``non_field_errors``) as one ``invalid`` refusal."""
    flat = {
        (NON_FIELD if name == "__all__" else name): [{"detail": str(m), "code": "invalid"} for m in messages]
        for name, messages in errors.items()
    }
    first = next(iter(flat.values()), [{"detail": "Invalid input.", "code": "invalid"}])[0]
    return DomainError(first["detail"], "invalid", extra={"errors": flat})


def invalid_from(exc: ValidationError) -> DomainError:
    """A Django ``ValidationError`` (keyed by field or not) as one ``invalid`` refusal."""
    return invalid_fields(exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD: exc.messages})


def full_clean(obj: models.Model, **kwargs: Any) -> None:
    """``obj.full_clean(**kwargs)``, refusing with ``invalid`` (and every field's messages) when it fails."""
    try:
        obj.full_clean(**kwargs)
    except ValidationError as exc:
        raise invalid_from(exc) from None

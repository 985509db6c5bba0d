"""The API's body parsers (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``). Kept apart from ``common.api.parsing``:
DRF imports the parser classes while ``rest_framework.views`` is being defined, so this module imports no view."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's strict JSON parser (no NaN or Infinity spellings), answering a body nested too deeply for the decoder
    (``[[[[…`` many thousands deep) with the same 400 ``malformed_request`` as any other unreadable body instead of
    a server error (the decoder raises ``RecursionError``)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None

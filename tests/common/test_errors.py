"""Domain errors: one registry of stable codes, mapped to HTTP in one place."""

import ast
from pathlib import Path

import pytest
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from common.api.errors import STATUS_FOR_KIND
from common.errors import REFUSALS, DomainError, Kind

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("common", "polling", "accounts", "config")


def _literal_codes() -> list[tuple[str, int, str]]:
    """Every ``DomainError(detail, "code", …)`` / ``code="…"`` literal in the product code."""
    found = []
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name != "DomainError":
                    continue
                code = (
                    node.args[1]
                    if len(node.args) > 1
                    else next((k.value for k in node.keywords if k.arg == "code"), None)
                )
                if isinstance(code, ast.Constant) and isinstance(code.value, str):
                    found.append((str(path.relative_to(ROOT)), node.lineno, code.value))
    return found


def test_every_code_a_service_raises_is_registered():
    codes = _literal_codes()
    assert len(codes) > 30, "the scan found too few refusals to be reading the product code"
    unregistered = [c for c in codes if c[2] not in REFUSALS]
    assert unregistered == []


def test_every_kind_has_one_http_status():
    assert set(STATUS_FOR_KIND) == set(Kind)


def test_an_unregistered_code_cannot_be_raised():
    with pytest.raises(ValueError, match="unregistered refusal code"):
        DomainError("Nope.", "no_such_code_anywhere")


class _Bearer(BaseAuthentication):
    def authenticate(self, request: Request):
        return None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def _answer(exc: DomainError, *, authenticators=()):
    class Refusing(APIView):
        authentication_classes = list(authenticators)
        permission_classes = []

        def get(self, request):
            raise exc

    return Refusing.as_view()(APIRequestFactory().get("/x"))


def test_a_refusal_answers_its_kinds_status_with_detail_code_and_the_field_at_fault():
    response = _answer(DomainError("The party's quota is full.", "quota_full", field="token"))
    assert response.status_code == 409
    assert response.data == {
        "detail": "The party's quota is full.",
        "code": "quota_full",
        "errors": {"token": [{"detail": "The party's quota is full.", "code": "quota_full"}]},
    }


def test_a_rate_limit_says_when_to_retry_in_the_body_and_the_header():
    response = _answer(DomainError("Too many attempts.", "too_many_attempts", extra={"retry_after_s": 42}))
    assert response.status_code == 429
    assert response.data["retry_after_s"] == 42
    assert response["Retry-After"] == "42"


def test_unauthenticated_names_the_scheme_where_the_view_authenticates_and_is_403_where_it_does_not():
    refusal = DomainError("Sign in on a tablet.", "tablet_required", kind=Kind.UNAUTHENTICATED)
    with_scheme = _answer(refusal, authenticators=[_Bearer])
    assert with_scheme.status_code == 401
    assert with_scheme["WWW-Authenticate"] == 'Bearer realm="api"'
    assert _answer(refusal).status_code == 403


def test_the_registered_kind_holds_unless_a_step_overrides_it():
    assert _answer(DomainError("Use a tablet.", "tablet_required")).status_code == 403
    assert _answer(DomainError("Same id, other event.", "event_id_reused")).status_code == 422

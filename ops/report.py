"""The daily security report: what the protective measures saw in a window, and what needs a person.

One builder (``build_report``) feeds every reader — the ``security_report`` command (text or JSON, e-mailed by the
daily timer), the state administrators' API endpoint, the admin page and, for the gauges, the Prometheus endpoint —
so the four can never disagree. Every section reads from the database or the measure's own status function; the
parts that belong to optional measures (backups, the IP-country database, replicas) are reported only where they
are configured.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.audit_chain import audit_status
from accounts.models import Credential, LoginFailure
from accounts.people import selectors
from accounts.people.selectors import shared_logons_since
from accounts.scopes import Scope
from guard import geo, ips
from guard.models import SecurityEvent
from ops.backup import latest_backup_status
from ops.routing import replica_status
from polling.models import PresenceAnomaly

_SPAN = re.compile(r"^\s*(\d{1,5})\s*([mhd])\s*$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}
#: A window longer than this is refused: the report is a daily read, not an archive query.
MAX_SPAN = timedelta(days=92)
TOP = 10


class BadSpan(ValueError):
    """``--since`` is not a span such as ``90m``, ``24h`` or ``7d`` within ``MAX_SPAN``."""


def parse_span(text: str) -> timedelta:
    """``"24h"`` → 24 hours. Minutes, hours or days; at least one minute, at most ``MAX_SPAN``."""
    match = _SPAN.match(text or "")
    if not match:
        raise BadSpan("Give the window as a number and a unit: 90m, 24h or 7d.")
    span = timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2)])
    if span <= timedelta(0) or span > MAX_SPAN:
        raise BadSpan(f"The window must be between 1 minute and {MAX_SPAN.days} days.")
    return span


@dataclass
class SecurityReport:
    since: datetime
    until: datetime
    failed_logins: dict[str, Any] = field(default_factory=dict)
    refusals: dict[str, Any] = field(default_factory=dict)
    geo_excluded: dict[str, int] = field(default_factory=dict)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    revocations: dict[str, Any] = field(default_factory=dict)
    anomalies: dict[str, Any] = field(default_factory=dict)
    shared_logons: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)
    backups: dict[str, Any] | None = None
    geoip: dict[str, Any] | None = None
    replicas: list[dict[str, Any]] | None = None
    needs_attention: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.needs_attention

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"] = self.since.isoformat()
        data["until"] = self.until.isoformat()
        data["ok"] = self.ok
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return _jsonable(asdict(value))
    return value


def _failed_logins(since: datetime, scope: Scope | None) -> dict[str, Any]:
    """Failed sign-ins. Read by a state administrator (``scope``), only the attempts on accounts in their reach
    count — with the addresses they came from — plus how many named no account at all: which names were typed is
    not theirs to read (often a password typed in the wrong box, or another state's staff misspelt)."""
    rows = LoginFailure.objects.filter(occurred_at__gte=since).exclude(reason=LoginFailure.Reason.PENDING)
    unknown = rows.filter(reason=LoginFailure.Reason.UNKNOWN_USER).count()
    locked = SecurityEvent.objects.filter(
        occurred_at__gte=since, kind=SecurityEvent.Kind.AUTH_FAILURE, reason="locked_out"
    )
    if scope is not None:
        visible = selectors.users_visible(scope).values("username")
        rows = rows.filter(username__in=visible)
        locked = locked.filter(account__in=visible)
    by_reason = dict(rows.values_list("reason").annotate(n=Count("pk")).order_by())
    top_accounts = rows.exclude(username="").values("username").annotate(n=Count("pk")).order_by("-n", "username")
    top_addresses = (
        rows.exclude(address_bucket="")
        .values("address_bucket")
        .annotate(n=Count("pk"))
        .order_by("-n", "address_bucket")
    )
    return {
        "total": sum(by_reason.values()),
        "by_reason": by_reason,
        "unknown_usernames": unknown,
        "locked_out_attempts": locked.aggregate(n=Sum("count"))["n"] or 0,
        "top_accounts": [{"username": r["username"], "count": r["n"]} for r in top_accounts[:TOP]],
        "top_addresses": [{"address": r["address_bucket"], "count": r["n"]} for r in top_addresses[:TOP]],
    }


def _refusals(since: datetime, scope: Scope | None) -> tuple[dict[str, Any], dict[str, int]]:
    """Requests the measures refused, by kind, reason, address and country: the service's, read by every state
    administrator — but for sign-in failures, which are people's and reported (scoped) under failed sign-ins."""
    events = SecurityEvent.objects.filter(occurred_at__gte=since)
    if scope is not None:
        events = events.exclude(kind=SecurityEvent.Kind.AUTH_FAILURE)
    by_kind: dict[str, dict[str, int]] = {}
    for kind, reason, n in events.values_list("kind", "reason").annotate(n=Sum("count")).order_by("kind", "reason"):
        by_kind.setdefault(kind, {})[reason or "-"] = n
    top = (
        events.exclude(kind=SecurityEvent.Kind.GEO_EXCLUDED)
        .exclude(bucket="")
        .values("kind", "bucket")
        .annotate(n=Sum("count"))
        .order_by("-n", "bucket")[:TOP]
    )
    geo = dict(
        events.filter(kind=SecurityEvent.Kind.GEO_EXCLUDED)
        .values_list("country")
        .annotate(n=Sum("count"))
        .order_by("-n")
    )
    refusals = {
        "by_kind": by_kind,
        "top_addresses": [{"kind": r["kind"], "address": r["bucket"], "count": r["n"]} for r in top],
    }
    return refusals, {(country or "unknown"): n for country, n in geo.items()}


def _blocks() -> list[dict[str, Any]]:
    return [
        {"address": b.bucket, "reason": b.reason, "strikes": b.strikes, "blocked_at": b.blocked_at, "until": b.until}
        for b in ips.active_blocks()
    ]


def _revocations(since: datetime, scope: Scope | None) -> dict[str, Any]:
    rows = Credential.objects.filter(revoked_at__gte=since)
    if scope is not None:
        rows = rows.filter(county__jurisdiction__in=scope.jurisdictions)
    by_county = dict(rows.values_list("county__name").annotate(n=Count("pk")).order_by("county__name"))
    return {"total": sum(by_county.values()), "by_county": by_county}


def _anomalies(since: datetime, scope: Scope | None) -> dict[str, Any]:
    anomalies = PresenceAnomaly.objects.all()
    if scope is not None:
        anomalies = anomalies.filter(election__jurisdiction__in=scope.jurisdictions)
    detected = anomalies.filter(detected_at__gte=since)
    by_code = dict(detected.values_list("code").annotate(n=Count("pk")).order_by("code"))
    open_now = anomalies.filter(status=PresenceAnomaly.Status.OPEN).count()
    return {"detected": sum(by_code.values()), "by_code": by_code, "open": open_now}


def _shared_logons(since: datetime, scope: Scope | None) -> dict[str, Any]:
    flags = shared_logons_since(since)
    if scope is not None:
        flags = flags.filter(pk__in=selectors.shared_logons_visible(scope).values("pk"))
    accounts = Counter(flag.user.get_username() for flag in flags)
    return {"flagged": len(flags), "accounts": [{"username": u, "count": n} for u, n in accounts.most_common(TOP)]}


def _audit() -> dict[str, Any]:
    status = audit_status()
    return {
        "intact": status.intact,
        "count": status.count,
        "head_hash": status.head_hash,
        "first_broken_pk": status.first_broken_pk,
        "problem": status.problem,
        "kind": status.kind,
        "checkpoint": None if status.checkpoint is None else status.checkpoint.signed_fields(),
    }


def _backups() -> dict[str, Any] | None:
    """The newest backup in ``BACKUP_DIR``; None when backups are not configured here."""
    if not settings.BACKUP_DIR:
        return None
    status = latest_backup_status(settings.BACKUP_DIR)
    if status is None:
        return {"present": False}
    return {"present": True, **_jsonable(asdict(status))}


def _geoip() -> dict[str, Any] | None:
    """The IP-country database; None when geographic exclusion is off."""
    if not settings.GEO_EXCLUSION:
        return None
    return dict(_jsonable(asdict(geo.database_status())))


def _replicas() -> list[dict[str, Any]] | None:
    return [status.as_dict() for status in replica_status()] or None


def build_report(
    *, span: timedelta = timedelta(hours=24), now: datetime | None = None, scope: Scope | None = None
) -> SecurityReport:
    """Everything the daily report says about the window ending ``now`` (default: now).

    ``scope`` None (the command, a superuser): the whole service. With a state administrator's scope, what is about
    a state's people and data — the accounts attacked, revocations, check-in anomalies, shared logons — is limited
    to their states; what is about the service itself — refusals by address, blocks, the audit chain, backups, the
    IP-country database, the mirror — is the service's, which every state administrator is responsible for."""
    until = now or timezone.now()
    since = until - span
    report = SecurityReport(since=since, until=until)
    report.failed_logins = _failed_logins(since, scope)
    report.refusals, report.geo_excluded = _refusals(since, scope)
    report.blocks = [dict(_jsonable(b)) for b in _blocks()]
    report.revocations = _revocations(since, scope)
    report.anomalies = _anomalies(since, scope)
    report.shared_logons = _shared_logons(since, scope)
    report.audit = _audit()
    report.backups = _backups()
    report.geoip = _geoip()
    report.replicas = _replicas()
    report.needs_attention = _needs_attention(report)
    return report


def _needs_attention(report: SecurityReport) -> list[str]:
    """The reasons a person must look today, most serious first. Empty: nothing needs anyone."""
    reasons: list[str] = []
    if not report.audit.get("intact", True):
        reasons.append(f"Audit trail: {report.audit.get('problem') or 'the hash chain is broken'}.")
    geoip = report.geoip or {}
    if geoip.get("required") and (geoip.get("problem") or geoip.get("stale") or not geoip.get("present", True)):
        reasons.append(
            "IP-country database: "
            f"{geoip.get('problem') or 'missing or stale'} — staff endpoints are refusing every client."
        )
    if report.backups is not None:
        if not report.backups.get("present"):
            reasons.append("Backups: no backup found in BACKUP_DIR.")
        elif not report.backups.get("ok", True):
            reasons.append(f"Backups: the newest backup is {report.backups.get('age_h', '?')} hours old.")
    for replica in report.replicas or []:
        if replica.get("problem"):
            reasons.append(f"Mirror {replica.get('name')}: {replica['problem']} (reads go to the primary).")
    if report.shared_logons.get("flagged"):
        reasons.append(f"Shared logons: {report.shared_logons['flagged']} flagged.")
    if report.anomalies.get("open"):
        reasons.append(f"Check-ins: {report.anomalies['open']} anomalies await a commissioner's review.")
    new_blocks = [b for b in report.blocks if b.get("blocked_at") and str(b["blocked_at"]) >= report.since.isoformat()]
    if new_blocks:
        reasons.append(f"Intrusion prevention: {len(new_blocks)} addresses blocked in this window.")
    threshold = getattr(settings, "SECURITY_REPORT_FAILED_LOGINS_ALERT", 50)
    if report.failed_logins.get("total", 0) >= threshold:
        reasons.append(f"Sign-ins: {report.failed_logins['total']} failed sign-ins (alert at {threshold}).")
    return reasons


def render_text(report: SecurityReport) -> str:
    """The report as a person reads it in a terminal or an e-mail."""
    out: list[str] = []
    add = out.append
    add(f"Security report {report.since:%Y-%m-%d %H:%M}Z to {report.until:%Y-%m-%d %H:%M}Z")
    add("")
    if report.needs_attention:
        add("NEEDS A PERSON:")
        out.extend(f"  - {reason}" for reason in report.needs_attention)
    else:
        add("Nothing needs a person.")
    add("")
    fl = report.failed_logins
    add(
        f"Failed sign-ins: {fl['total']}  (of them naming no account: {fl['unknown_usernames']}; "
        f"refused while locked out: {fl['locked_out_attempts']})"
    )
    out.extend(f"  {reason}: {n}" for reason, n in sorted(fl["by_reason"].items()))
    if fl["top_accounts"]:
        add("  accounts: " + ", ".join(f"{_quoted(r['username'])}: {r['count']}" for r in fl["top_accounts"]))
    if fl["top_addresses"]:
        add("  addresses: " + ", ".join(f"{r['address']}: {r['count']}" for r in fl["top_addresses"]))
    add("Blocked, throttled and refused requests:")
    if not report.refusals["by_kind"]:
        add("  none")
    for kind, reasons in report.refusals["by_kind"].items():
        add(f"  {kind}: " + ", ".join(f"{reason}: {n}" for reason, n in reasons.items()))
    if report.refusals["top_addresses"]:
        add(
            "  addresses: "
            + ", ".join(f"{r['address']} ({r['kind']}): {r['count']}" for r in report.refusals["top_addresses"])
        )
    add("Geo-excluded by country: " + (", ".join(f"{c}: {n}" for c, n in report.geo_excluded.items()) or "none"))
    add(f"Blocked addresses now: {len(report.blocks)}")
    out.extend(f"  {b['address']} {b['reason']} until {b['until']} (strike {b['strikes']})" for b in report.blocks)
    rv = report.revocations
    add(
        f"Credentials revoked: {rv['total']}"
        + (" (" + ", ".join(f"{c}: {n}" for c, n in rv["by_county"].items()) + ")" if rv["total"] else "")
    )
    an = report.anomalies
    add(f"Check-in anomalies detected: {an['detected']}; open now: {an['open']}")
    out.extend(f"  {code}: {n}" for code, n in an["by_code"].items())
    add(f"Sessions flagged as shared: {report.shared_logons.get('flagged', 0)}")
    audit = report.audit
    add(
        "Audit chain: "
        + ("intact" if audit.get("intact") else f"BROKEN — {audit.get('problem')}")
        + (f" ({audit['count']} events)" if "count" in audit else "")
    )
    if report.backups is not None:
        b = report.backups
        add("Backups: " + (f"newest {b.get('created_at')} ({b.get('age_h')} h old)" if b.get("present") else "none"))
    if report.geoip is not None:
        g = report.geoip
        add(
            "IP-country database: "
            + (g.get("problem") or f"data of {g.get('data_date')}, {g.get('age_days')} days old")
        )
    for r in report.replicas or []:
        add(f"Mirror {r.get('name')}: " + (r.get("problem") or f"in use, lag {r.get('lag_s')} s"))
    # Every line once more through _shown: whatever reached a line from outside (a name typed at the sign-in, a path)
    # cannot start a line of its own, move the cursor, recolour or reorder the text of a terminal or an e-mail.
    return "\n".join(_shown(line) for line in out) + "\n"


def _shown(text: str) -> str:
    """``text`` with every character that is not printable — controls (CR, LF, ESC …), format characters (bidi
    overrides, zero-width), separators — written as a ``\\uXXXX`` escape."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def _quoted(name: str) -> str:
    """A name somebody typed (an unknown user name may be anything, a password typed in the wrong box included),
    quoted so that it cannot pass for the report's own words."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def report_json(report: SecurityReport) -> dict[str, Any]:
    return dict(_jsonable(report.to_dict()))

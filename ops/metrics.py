"""Prometheus metrics, computed when scraped (``prometheus_client`` with a custom collector).

Nothing is counted per request: the public lookup pays nothing for monitoring. A scrape reads the same tables the
security report reads, over the last 24 hours, plus the status of each measure (blocks, audit head, backups, the
IP-country database, the mirror). The endpoint answers only the addresses in ``METRICS_ALLOWED_ADDRESSES`` (as seen
through the trusted proxies); anyone else gets the same 404 as an unknown path.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from accounts.models import AuditEvent, LoginFailure
from common.net import client_ip
from guard.models import SecurityEvent
from polling.models import PresenceAnomaly

WINDOW = timedelta(hours=24)


class ServiceCollector(Collector):
    """The security report's figures as gauges (the last 24 hours, or now)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from ops import report

        since = timezone.now() - WINDOW
        events = GaugeMetricFamily(
            "pollguard_security_events_24h", "Refused or flagged requests in the last 24 hours.", labels=["kind"]
        )
        for kind, n in (
            SecurityEvent.objects.filter(occurred_at__gte=since)
            .values_list("kind")
            .annotate(n=Sum("count"))
            .order_by("kind")
        ):
            events.add_metric([kind], n)
        yield events
        failures = GaugeMetricFamily(
            "pollguard_failed_signins_24h", "Failed sign-ins in the last 24 hours.", labels=["reason"]
        )
        for reason, n in (
            LoginFailure.objects.filter(occurred_at__gte=since)
            .exclude(reason=LoginFailure.Reason.PENDING)
            .values_list("reason")
            .annotate(n=Count("pk"))
            .order_by("reason")
        ):
            failures.add_metric([reason], n)
        yield failures
        yield GaugeMetricFamily(
            "pollguard_open_anomalies",
            "Check-in anomalies awaiting review.",
            value=PresenceAnomaly.objects.filter(status=PresenceAnomaly.Status.OPEN).count(),
        )
        yield GaugeMetricFamily("pollguard_active_blocks", "Addresses blocked now.", value=len(report._blocks()))
        yield GaugeMetricFamily(
            "pollguard_audit_events", "Events in the audit trail.", value=AuditEvent.objects.count()
        )
        backups = report._backups()
        if backups and backups.get("present") and backups.get("age_h") is not None:
            yield GaugeMetricFamily(
                "pollguard_backup_age_hours", "Age of the newest backup.", value=float(backups["age_h"])
            )
        geoip = report._geoip()
        if geoip and geoip.get("age_days") is not None:
            yield GaugeMetricFamily(
                "pollguard_geoip_age_days", "Age of the IP-country database.", value=float(geoip["age_days"])
            )
        replicas = report._replicas() or []
        if replicas:
            lag = GaugeMetricFamily("pollguard_replica_up", "1 when the mirror serves reads.", labels=["replica"])
            for replica in replicas:
                lag.add_metric([str(replica.get("name"))], 0.0 if replica.get("problem") else 1.0)
            yield lag


_registry = CollectorRegistry(auto_describe=False)
_registry.register(ServiceCollector())


def _allowed(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in settings.METRICS_ALLOWED_ADDRESSES)


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD") or not _allowed(client_ip(request)):
        raise Http404
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)

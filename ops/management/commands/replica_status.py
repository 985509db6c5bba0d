"""``python manage.py replica_status``: each configured standby, probed now, as JSON lines.

Exits 0 when every standby serves reads (or none is configured), 1 when one is skipped (down, lagging, not
streaming, or no longer a standby) — for the failover runbook (docs/operations.md) and a monitoring check.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand

from ops.routing import replica_aliases, replica_status


class Command(BaseCommand):
    help = "Probe each standby (DATABASE_REPLICA_URL) now; exit 1 when one is not fit to serve reads."

    def handle(self, *args: Any, **options: Any) -> None:
        if not replica_aliases():
            self.stdout.write(json.dumps({"replicas": "not_configured"}))
            return
        statuses = replica_status(fresh=True)
        for status in statuses:
            self.stdout.write(json.dumps(status.as_dict()))
        if any(not s.in_use for s in statuses):
            sys.exit(1)

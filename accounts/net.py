"""The client's address (kept here for the accounts packages; the rule lives in ``common.net``)."""

from __future__ import annotations

from common.net import client_ip

__all__ = ["client_ip"]

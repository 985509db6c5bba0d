#!/usr/bin/env python3
"""Render deploy/nginx/pollguard.conf.template into an nginx site configuration (standard library only, so the
system's python3 runs it on a fresh server).

    python3 deploy/nginx/render.py --server-name polls.example.gov > /etc/nginx/sites-available/pollguard

Every ``@NAME@`` of the template is replaced; a placeholder left over is an error. The end-to-end test renders the
same template with its own ports, certificate and static directory.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().with_name("pollguard.conf.template")
_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
_SAFE = re.compile(r"^[^;{}'\"\s$\\]+$")  # no value may end a directive or open a block


def render(
    *,
    server_name: str,
    upstream: str = "127.0.0.1:8000",
    http_port: int = 80,
    https_port: int = 443,
    tls_cert: str,
    tls_key: str,
    static_root: str = "/var/lib/pollguard/static",
    max_body: str = "6m",
    hsts: str = "max-age=31536000; includeSubDomains; preload",
) -> str:
    """The site configuration for these values (ValueError for a value that could inject nginx syntax)."""
    values = {
        "SERVER_NAME": server_name,
        "UPSTREAM": upstream,
        "HTTP_PORT": str(http_port),
        "HTTPS_PORT": str(https_port),
        "HTTPS_PORT_SUFFIX": "" if https_port == 443 else f":{https_port}",
        "TLS_CERT": tls_cert,
        "TLS_KEY": tls_key,
        "STATIC_ROOT": static_root.rstrip("/"),
        "MAX_BODY": max_body,
    }
    for name, value in values.items():
        if value and not _SAFE.match(value.replace(" ", "_") if name == "SERVER_NAME" else value):
            raise ValueError(f"{name} has characters nginx would read as syntax: {value!r}")
    if not re.fullmatch(r"max-age=\d+(; includeSubDomains)?(; preload)?", hsts):
        raise ValueError(f"HSTS must look like 'max-age=N[; includeSubDomains][; preload]': {hsts!r}")
    values["HSTS"] = hsts
    text = TEMPLATE.read_text(encoding="utf-8")
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise ValueError(f"the template names placeholders this script does not know: {missing}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-name", required=True, help="the public host name(s), space-separated")
    parser.add_argument("--upstream", default="127.0.0.1:8000", help="gunicorn's address (GUNICORN_BIND)")
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument("--https-port", type=int, default=443)
    parser.add_argument("--tls-cert", help="default: Let's Encrypt's path for the first server name")
    parser.add_argument("--tls-key", help="default: Let's Encrypt's path for the first server name")
    parser.add_argument("--static-root", default="/var/lib/pollguard/static", help="STATIC_ROOT (VAR_DIR/static)")
    parser.add_argument("--max-body", default="6m", help="client_max_body_size")
    parser.add_argument(
        "--hsts",
        default="max-age=31536000; includeSubDomains; preload",
        help="Strict-Transport-Security on nginx's own answers: the value Django sends (SECURE_HSTS_*)",
    )
    args = parser.parse_args(argv)
    first = args.server_name.split()[0]
    try:
        text = render(
            server_name=args.server_name,
            upstream=args.upstream,
            http_port=args.http_port,
            https_port=args.https_port,
            tls_cert=args.tls_cert or f"/etc/letsencrypt/live/{first}/fullchain.pem",
            tls_key=args.tls_key or f"/etc/letsencrypt/live/{first}/privkey.pem",
            static_root=args.static_root,
            max_body=args.max_body,
            hsts=args.hsts,
        )
    except ValueError as exc:
        parser.error(str(exc))
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

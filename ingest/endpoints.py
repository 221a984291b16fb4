"""Which endpoint URLs a campaign may send the worker's signed AWS requests to.

Empty means AWS itself (botocore picks the regional endpoint). Anything else must name a host of
the INGEST_ALLOWED_ENDPOINTS setting: otherwise whoever can edit a campaign could point the worker
at an internal service (an SSRF), and its requests carry the worker's access key id. Checked when
an organizer saves a campaign (fundraiser.models) and again on every request the worker's clients
send (ingest.streams), so a campaign saved before a setting changed is refused too.

Pure: no Django, boto3 or network. Entries are `host` (any port) or `host:port`; IPv6 hosts in
brackets (`[::1]`); a full URL is accepted for convenience and reduced to its host and port.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


class EndpointNotAllowed(ValueError):
    """The endpoint URL is not one the worker may call."""


def _host_port(netloc: str) -> tuple[str, int | None]:
    parts = urlsplit(f"//{netloc.strip()}")
    try:
        port = parts.port
    except ValueError:
        raise EndpointNotAllowed(f"{netloc!r} has an invalid port") from None
    return (parts.hostname or "").lower().rstrip("."), port


def parse_allowed(entries: Iterable[str]) -> list[tuple[str, int | None]]:
    allowed = []
    for entry in entries:
        entry = entry.strip()
        if "://" in entry:
            entry = urlsplit(entry).netloc
        host, port = _host_port(entry)
        if host:
            allowed.append((host, port))
    return allowed


def endpoint_refusal(url: str | None, allowed_entries: Iterable[str]) -> str | None:
    """Why this endpoint URL may not be used, or None if it may (empty: AWS)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        return "the endpoint URL must start with http:// or https://"
    if parts.username is not None or parts.password is not None:
        return "the endpoint URL must not contain a user name or password"
    try:
        host, port = _host_port(parts.netloc)
    except EndpointNotAllowed as exc:
        return str(exc)
    if not host:
        return "the endpoint URL has no host"
    port = port or DEFAULT_PORTS[parts.scheme]
    for allowed_host, allowed_port in parse_allowed(allowed_entries):
        if host == allowed_host and allowed_port in (None, port):
            return None
    return (
        f"{host}:{port} is not an allowed endpoint: leave the endpoint URL empty to read the table "
        "from AWS (a local DynamoDB must be listed in INGEST_ALLOWED_ENDPOINTS by whoever runs the server)"
    )


def require_allowed(url: str | None, allowed_entries: Iterable[str]) -> None:
    refusal = endpoint_refusal(url, allowed_entries)
    if refusal:
        raise EndpointNotAllowed(refusal)

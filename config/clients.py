"""Who a request comes from, for the per-client limits (login lockout, streams, token guesses).

REMOTE_ADDR only: never a header a client can write. Behind a proxy, the ASGI server puts the real
client there (uvicorn --proxy-headers --forwarded-allow-ips=<the proxy's address>); see
docs/security.md. An IPv6 client is its /64: one subscriber line gets a whole /64, so counting
single addresses would let one attacker rotate through billions of them.
"""

from __future__ import annotations

import ipaddress

from django.http import HttpRequest

UNKNOWN = "0.0.0.0"  # noqa: S104 - a key, not an address to bind


def client_ip(request: HttpRequest) -> str:
    return client_of(request.META.get("REMOTE_ADDR") or "")


def client_of(remote_addr: str) -> str:
    """The client key of an address (what REMOTE_ADDR holds)."""
    raw = remote_addr.strip()
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False).network_address)
    return str(address)

"""Who is on the other end of the socket, and whether to believe what it says.

``proxy_auth_header`` names the user only when the request comes straight from one of
``trusted_proxies`` (addresses or CIDR networks): the TCP peer (ASGI ``scope["client"]``,
which ``rocketjob web`` leaves untouched: uvicorn runs with ``proxy_headers`` off), never
an ``X-Forwarded-For`` value a client could write. Behind a trusted proxy the client's
address for login throttling is the right-most ``X-Forwarded-For`` entry that is not a
trusted proxy (the one the nearest proxy added).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(values: Sequence[str]) -> tuple[Network, ...]:
    """``trusted_proxies`` as networks (a single address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def peer_address(request: Request) -> str:
    """The TCP peer's address ("" when the server does not say)."""
    return request.client.host if request.client else ""


def is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    """True when ``address`` is inside one of ``trusted``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in trusted)


def client_address(request: Request, trusted: Sequence[Network]) -> str:
    """The address login throttling counts failures against (see the module docstring)."""
    peer = peer_address(request)
    if not is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop
    return peer

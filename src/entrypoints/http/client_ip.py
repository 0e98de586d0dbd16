"""Which address is the client: the socket peer, unless a trusted proxy says otherwise."""

from __future__ import annotations

import ipaddress

from entrypoints.settings import IPNetwork


def _trusted(address: str, proxies: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in proxies)


def client_ip(
    peer: str | None, forwarded_for: str | None, proxies: tuple[IPNetwork, ...]
) -> str | None:
    """Walks X-Forwarded-For from the right, past trusted proxies, to the first untrusted hop.

    Entries to the left of that hop were written by the client itself and are not believed.
    """
    if peer is None or not proxies or not forwarded_for or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer

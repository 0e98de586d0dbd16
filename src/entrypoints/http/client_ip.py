"""Which address is the client: the socket peer, unless a trusted proxy says otherwise."""

from __future__ import annotations

import ipaddress

from entrypoints.settings import IPNetwork

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    """An address as proxies write it: bare, or IPv6 in brackets, either one with a port
    (``198.51.100.7:54321``, ``[2001:db8::5]:443``); a zone index is dropped."""
    text = text.strip()
    if text.startswith("["):
        text, bracket, port = text[1:].partition("]")
        if not bracket or not (port == "" or (port[:1] == ":" and _is_port(port[1:]))):
            return None
    elif text.count(":") == 1:  # IPv4 and a port (IPv6 has at least two colons)
        text, _, port = text.partition(":")
        if not _is_port(port):
            return None
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= 65535


def _trusted(ip: Address | None, proxies: tuple[IPNetwork, ...]) -> bool:
    return ip is not None and any(ip in network for network in proxies)


def client_ip(
    peer: str | None, forwarded_for: str | None, proxies: tuple[IPNetwork, ...]
) -> str | None:
    """Walks X-Forwarded-For from the right, past trusted proxies, to the first untrusted hop.

    Entries to the left of that hop were written by the client itself and are not believed.
    None when there is no client address to speak of: no peer (a Unix socket), or a hop
    that a trusted proxy wrote is not an IP address (``unknown``, a name): such a view is
    served but not tracked.
    """
    if peer is None or not proxies or not forwarded_for or not _trusted(_address(peer), proxies):
        return peer
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()]
    ip = None
    for hop in reversed(hops):
        ip = _address(hop)
        if ip is None:
            return None
        if not _trusted(ip, proxies):
            return str(ip)
    return str(ip) if ip is not None else peer  # every hop trusted: the leftmost

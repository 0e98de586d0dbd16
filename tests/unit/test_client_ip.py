import ipaddress

from entrypoints.http.client_ip import client_ip
from entrypoints.http.middleware import VisitTrackingMiddleware

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:ffff::/48"))


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_ip("203.0.113.9", "198.51.100.1", ()) == "203.0.113.9"
    assert client_ip("203.0.113.9", "198.51.100.1", PROXIES) == "203.0.113.9"  # untrusted peer
    assert client_ip(None, None, PROXIES) is None  # a Unix socket: nobody to track


def test_the_first_untrusted_hop_from_the_right_is_the_client() -> None:
    # The leftmost entry is whatever the client claimed; only trusted proxies are believed.
    chain = "1.1.1.1, 198.51.100.7, 10.0.0.2"
    assert client_ip("10.0.0.1", chain, PROXIES) == "198.51.100.7"
    assert client_ip("::ffff:10.0.0.1", "198.51.100.7", PROXIES) == "198.51.100.7"
    assert client_ip("2001:db8:ffff::1", "2001:db8::5", PROXIES) == "2001:db8::5"
    assert client_ip("10.0.0.1", "10.0.0.3, 10.0.0.2", PROXIES) == "10.0.0.3"  # all trusted


def test_a_hop_that_is_not_an_address_is_not_tracked() -> None:
    assert client_ip("10.0.0.1", "unknown", PROXIES) is None
    assert client_ip("10.0.0.1", "198.51.100.7, proxy.internal", PROXIES) is None


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, object]] = []

    def track_visit(self, ip: str, user_agent: str, product_id: object) -> str:
        self.seen.append((ip, user_agent, product_id))
        return "visit"


def _tracked(headers: list[tuple[bytes, bytes]], proxies: tuple = PROXIES) -> tuple:
    recorder = _Recorder()
    middleware = VisitTrackingMiddleware(lambda: recorder, lambda: None, proxies)  # type: ignore[arg-type, return-value]
    scope = {"headers": headers, "client": ("10.0.0.1", 5000), "path_params": {"product_id": 7}}
    assert middleware._track(scope) == "visit"  # type: ignore[arg-type]
    return recorder.seen[0]


def test_the_middleware_reads_both_headers_and_joins_repeated_fields() -> None:
    headers = [
        (b"host", b"shop.example"),
        (b"x-forwarded-for", b"203.0.113.50, 198.51.100.1"),
        (b"user-agent", b"Mozilla/5.0"),
        (b"x-forwarded-for", b"10.0.0.2, 10.0.0.3"),
        (b"user-agent", b"(again)"),
    ]
    # the proxies' hops joined in order: the first untrusted one from the right is the client
    assert _tracked(headers) == ("198.51.100.1", "Mozilla/5.0,(again)", 7)
    assert _tracked([(b"host", b"shop.example")]) == ("10.0.0.1", "", 7)
    # without trusted proxies, X-Forwarded-For is not read at all
    assert _tracked(headers, ())[0] == "10.0.0.1"

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from entrypoints.http.client_ip import client_ip

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:ffff::/48"))
# Hops as proxies write them, and near misses: ports, brackets, zones, stray characters.
HOPS = st.one_of(
    st.ip_addresses().map(str),
    st.tuples(st.ip_addresses(v=4), st.integers(-1, 70_000)).map(lambda a: f"{a[0]}:{a[1]}"),
    st.tuples(st.ip_addresses(v=6), st.integers(-1, 70_000)).map(lambda a: f"[{a[0]}]:{a[1]}"),
    st.from_regex(r"\A[\[\]0-9a-f:.%]{0,12}\Z"),
)


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


def test_a_hop_with_a_port_is_its_address() -> None:
    """Some proxies (Azure Application Gateway, IIS ARR) write the client's port too."""
    assert client_ip("10.0.0.1", "198.51.100.7:54321", PROXIES) == "198.51.100.7"
    assert client_ip("10.0.0.1", "[2001:db8::5]:443", PROXIES) == "2001:db8::5"
    assert client_ip("10.0.0.1", "[2001:db8::5]", PROXIES) == "2001:db8::5"
    assert client_ip("10.0.0.1", "198.51.100.7:54321, 10.0.0.2:80", PROXIES) == "198.51.100.7"
    # Not an address with a port: still not tracked.
    assert client_ip("10.0.0.1", "198.51.100.7:http", PROXIES) is None
    assert client_ip("10.0.0.1", "2001:db8::5:443x", PROXIES) is None
    assert client_ip("10.0.0.1", "[2001:db8::5]x", PROXIES) is None
    assert client_ip("10.0.0.1", "198.51.100.7:99999", PROXIES) is None


@given(forwarded_for=st.text(max_size=60) | st.lists(HOPS, max_size=4).map(", ".join))
def test_any_forwarded_for_gives_an_address_or_none_and_never_raises(forwarded_for: str) -> None:
    found = client_ip("10.0.0.1", forwarded_for, PROXIES)
    assert found is None or found == "10.0.0.1" or ipaddress.ip_address(found)

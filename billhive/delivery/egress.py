"""Where callbacks may go, checked when a URL is registered and again at every send.

A callback URL is chosen by whoever holds an API token, and billhive's workers POST to
it from inside the platform's network: without a check that is a request forgery
(SSRF) into Redis, PostgreSQL, the cloud's metadata service or anything else the workers
can reach. The rules:

* Only globally routable addresses, IPv4 and IPv6: no loopback, private, link-local,
  shared (CGNAT), multicast, reserved, documentation or benchmark ranges; IPv6 forms that
  embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by that
  address. Networks an operator lists in ``BILLHIVE_CALLBACK_ALLOWED_NETWORKS`` are
  allowed as well (never a cloud metadata address; config.py refuses such entries).
* Host names are resolved and every address they resolve to must be allowed. A host
  written as a number in any form but dotted decimal (``0x7f.1``, ``2130706433``,
  ``017700000001``, ``127.1``), ``localhost`` and names without a dot are refused outright.
* In production plain http is refused unless every address is in an allow-listed network.
* At send time the name is resolved once, the addresses are checked, and the connection
  goes to the checked address (no second lookup a rebinding DNS server could answer
  differently); the Host header, TLS SNI and certificate check keep using the name.
  Redirects are not followed, and no proxy from the environment is used.

A refusal at send time is raised as a connection error, so the delivery log records it
exactly like a closed port: the log must not become a scanner of the internal network.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from billhive.config import Settings, parse_networks

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``(host, port) -> addresses``: how names are resolved (the system's resolver by default).
Resolver = Callable[[str, int], Sequence[str]]

#: Ranges that ``ipaddress`` may call global on some Python versions but that no callback
#: receiver lives in.
_NEVER_PUBLIC: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HTTPS_NEEDED = "callbacks need https (plain http only to allow-listed networks)"
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class EgressRefused(Exception):
    """A callback URL or address is not allowed; the message says why (for the API user
    at registration, for the operator's log at send time)."""


class NotResolved(EgressRefused):
    """The host name does not resolve (now)."""


class AddressRefused(httpx.ConnectError):
    """Raised by :class:`PinnedTransport` instead of connecting: to the delivery log it is
    any other connection failure."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """True for a globally routable unicast address (judged by the IPv4 address an IPv6
    one embeds)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    if any(address in network for network in _NEVER_PUBLIC):
        return False
    return address.is_global and not address.is_multicast


def _odd_numeric_host(host: str) -> bool:
    """True for a host the C resolver reads as an IPv4 number (``0x7f.1``, ``2130706433``,
    ``127.1``) though it is not written as one in plain dotted decimal."""
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    try:
        return str(ipaddress.IPv4Address(host)) != host
    except ValueError:
        return True


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system's resolver gives for ``host`` (TCP), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class EgressPolicy:
    """Which addresses callbacks may reach, and whether plain http is allowed."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    https_only: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        """Public addresses plus ``BILLHIVE_CALLBACK_ALLOWED_NETWORKS``; https required in
        production."""
        return cls(
            allowed_networks=parse_networks(settings.callback_allowed_networks),
            https_only=settings.env == "production",
        )

    def _allow_listed(self, address: IPAddress) -> bool:
        inner = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
        return any(a in n for a in (address, inner) if a for n in self.allowed_networks)

    def allows(self, address: IPAddress) -> bool:
        """True for a public address or one in an allow-listed network."""
        return is_public(address) or self._allow_listed(address)

    def _check_name(self, host: str) -> None:
        if _odd_numeric_host(host):
            raise EgressRefused(
                "the host is a number in an unusual form; write an IPv4 address as a.b.c.d"
            )
        name = host.rstrip(".").lower()
        if name == "localhost" or name.endswith(".localhost"):
            raise EgressRefused("the host is localhost")
        if _literal(host) is None and "." not in name:
            raise EgressRefused("the host needs a fully qualified domain name")

    def _check_addresses(self, scheme: str, addresses: Sequence[IPAddress]) -> None:
        refused = [a for a in addresses if not self.allows(a)]
        if refused:
            raise EgressRefused("the host is not a public address")
        plain_http_allowed = all(self._allow_listed(a) for a in addresses)
        if self.https_only and scheme != "https" and not plain_http_allowed:
            raise EgressRefused(_HTTPS_NEEDED)

    def resolve(self, scheme: str, host: str, port: int, resolver: Resolver) -> list[IPAddress]:
        """The checked addresses of ``host``; :class:`EgressRefused` when the name is
        refused, does not resolve, or any of its addresses is not allowed."""
        self._check_name(host)
        literal = _literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolver(host, port)]
            except (OSError, UnicodeError, ValueError) as exc:
                raise NotResolved(f"the host does not resolve ({type(exc).__name__})") from None
            if not addresses:
                raise NotResolved("the host does not resolve")
        self._check_addresses(scheme, addresses)
        return addresses

    def check_registration(self, url: str, resolver: Resolver = system_resolver) -> None:
        """Raise :class:`EgressRefused` for a URL no delivery could be sent to.

        A name that does not resolve now is accepted over https (DNS may be set up later;
        the check at every send decides); with https required, plain http needs a name
        that resolves into an allow-listed network.
        """
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            self.resolve(parts.scheme, host, port, resolver)
        except NotResolved:
            if self.https_only and parts.scheme != "https":
                raise EgressRefused(_HTTPS_NEEDED) from None


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport that resolves each request's host once, checks the addresses
    with an :class:`EgressPolicy`, and connects to the checked address.

    The request's URL is rewritten to the address while its Host header stays the name;
    for https the name goes in as the TLS SNI and is what the certificate is checked
    against (httpcore's ``sni_hostname`` extension). Each delivery uses its own transport
    (a fresh connection pool), so a connection made for one name is never reused for
    another name that shares its address.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        resolver: Resolver = system_resolver,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self._transport = httpx.HTTPTransport(verify=verify, retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Check, pin and send ``request``; :class:`AddressRefused` instead of connecting
        to an address the policy does not allow."""
        url = request.url
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = self.policy.resolve(url.scheme, host, port, self.resolver)
        except EgressRefused as exc:
            raise AddressRefused(str(exc), request=request) from None
        if url.scheme == "https" and _literal(host) is None:
            request.extensions = {**request.extensions, "sni_hostname": host}
        request.url = url.copy_with(host=str(addresses[0]))
        return self._transport.handle_request(request)

    def close(self) -> None:
        """Close the connection pool."""
        self._transport.close()

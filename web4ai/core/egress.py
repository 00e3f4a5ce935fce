"""The egress policy for callbacks: which addresses the orchestrator may connect to.

Pure logic; the connection-time resolver that applies it lives in
``web4ai.operator.egress``. By default a callback may reach only globally
routable unicast addresses. Refused, in every spelling:

* loopback, unspecified (``0.0.0.0/8``, ``::``), multicast, reserved and other
  addresses that are not globally routable;
* private ranges: RFC 1918, ``100.64.0.0/10`` (shared address space),
  ``fc00::/7`` (unique local), link-local and cloud metadata addresses;
* the same addresses embedded in IPv6: IPv4-mapped ``::ffff:0:0/96``,
  IPv4-compatible ``::/96``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96`` and
  ``64:ff9b:1::/48``.

Host spellings are read as ``inet_aton`` reads them (``2852039166``,
``0xa9.0xfe.0xa9.0xfe``, ``0251.0376.0251.0376``, ``127.1``), which is also how
the system resolver would read them.

What opens it (``EgressPolicy``):

* ``allow_private`` (``security.allow_private_callbacks``): loopback, private
  and link-local ranges; metadata, unspecified, multicast and reserved
  addresses stay refused;
* ``allowed_networks`` (``security.callback_allowed_networks``): any address
  inside one of these CIDRs, whatever its kind (metadata included, when an
  admin lists it explicitly);
* ``allowed_hosts`` (``security.callback_allowed_hosts``): a URL whose host is
  one of these names (``*.example.svc`` matches subdomains) may reach the
  loopback, private and link-local addresses it resolves to, as with
  ``allow_private`` for that host only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata", "metadata.azure.internal", "instance-data"}
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "fd00:ec2::254",  # AWS IPv6
        "fd00:ec2::23",  # AWS IPv6 DNS
    )
)
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
NAT64_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

# kinds of refusal; the ones that allow_private and allowed_hosts open
LOCAL_KINDS = frozenset({"loopback", "private", "link-local"})


class BadHost(ValueError):
    """A host that looks numeric but is no valid address."""


def _ipv4_part(text: str) -> int:
    """One dotted part as inet_aton reads it: 0x.. hex, 0.. octal, else decimal."""
    low = text.lower()
    if low.startswith("0x"):
        digits, base = low[2:], 16
        if digits == "":
            return 0  # inet_aton accepts a bare "0x"
    elif len(low) > 1 and low.startswith("0"):
        digits, base = low[1:], 8
    else:
        digits, base = low, 10
    if not digits or not all(c in "0123456789abcdef"[:base] for c in digits):
        raise BadHost(f"{text!r} is not a number")
    return int(digits, base)


def _looks_numeric(label: str) -> bool:
    low = label.lower()
    if low.startswith("0x"):
        return all(c in "0123456789abcdef" for c in low[2:])
    return label.isdigit()


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """``host`` as inet_aton reads it (1 to 4 parts; the last fills the rest), or
    None when it is a name. Raises BadHost for a numeric form out of range."""
    labels = host.split(".")
    if not labels or not _looks_numeric(labels[-1]):
        return None  # a name: the last label of a host name is never numeric
    if len(labels) > 4:
        raise BadHost(f"{host!r} has too many numeric parts")
    values = [_ipv4_part(label) for label in labels]
    head, last = values[:-1], values[-1]
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        raise BadHost(f"{host!r} is out of range for an IPv4 address")
    number = last
    for i, v in enumerate(head):
        number += v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def parse_host(host: str) -> IPAddress | None:
    """The address a URL host denotes when it is a literal (in any spelling), else
    None for a name. Raises BadHost for malformed numeric hosts."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            raise BadHost(f"{host!r} is not a valid IPv6 address") from None
    if text.endswith("."):
        text = text[:-1]  # an absolute name: "127.0.0.1." is still 127.0.0.1
    return parse_ipv4(text) if text else None


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried in an IPv4-mapped, -compatible, 6to4 or NAT64 address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in NAT64_NETWORKS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in IPV4_COMPATIBLE and int(ip) > 1:  # not :: or ::1 (judged as IPv6)
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify(ip: IPAddress) -> tuple[str, str] | None:
    """Why ``ip`` is internal, as (kind, reason), or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        inner = embedded_ipv4(ip)
        if inner is not None:
            found = classify(inner)
            if found is not None:
                return found[0], f"{ip} embeds {inner}: {found[1]}"
            return None
    if ip in METADATA_ADDRESSES:
        return "metadata", f"{ip} is a cloud metadata address"
    if ip.is_unspecified or ip in ipaddress.ip_network("0.0.0.0/8"):
        return "unspecified", f"{ip} is an unspecified address"
    if ip.is_loopback:
        return "loopback", f"{ip} is a loopback address"
    if ip.is_link_local:
        return "link-local", f"{ip} is a link-local address"
    if any(ip in net for net in PRIVATE_NETWORKS if net.version == ip.version):
        return "private", f"{ip} is in a private range"
    if ip.is_multicast:
        return "multicast", f"{ip} is a multicast address"
    if not ip.is_global or ip.is_reserved:
        return "reserved", f"{ip} is a reserved, not globally routable address"
    return None


def _host_matches(host: str, patterns: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in patterns:
        p = pattern.lower().rstrip(".")
        if p.startswith("*."):
            if host.endswith(p[1:]) and host != p[2:]:
                return True
        elif host == p:
            return True
    return False


@dataclass(frozen=True)
class EgressPolicy:
    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        allow_private: bool = False,
        allowed_networks: Iterable[str] = (),
        allowed_hosts: Iterable[str] = (),
    ) -> EgressPolicy:
        """A policy from the configuration's strings (invalid CIDRs are skipped:
        the configuration is validated on write)."""
        nets: list[IPNetwork] = []
        for text in allowed_networks:
            try:
                nets.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                continue
        return cls(allow_private, tuple(nets), tuple(h.lower() for h in allowed_hosts))

    def address_refusal(self, ip: IPAddress, host: str | None = None) -> str | None:
        """Why a connection to ``ip`` (for the URL host ``host``) is refused, or None."""
        if any(ip.version == net.version and ip in net for net in self.allowed_networks):
            return None
        found = classify(ip)
        if found is None:
            return None
        kind, reason = found
        if kind in LOCAL_KINDS and (
            self.allow_private or (host is not None and _host_matches(host, self.allowed_hosts))
        ):
            return None
        return reason

    def addresses_refusal(self, addresses: Sequence[str], host: str | None = None) -> str | None:
        """The first refusal among resolved addresses (every one must pass)."""
        for text in addresses:
            try:
                ip = ipaddress.ip_address(text.split("%", 1)[0])
            except ValueError:
                return f"{text!r} is not an address"
            refusal = self.address_refusal(ip, host)
            if refusal:
                return refusal
        return None

    def url_refusal(self, url: str) -> str | None:
        """Why ``url`` is refused before any lookup: its form, a metadata host name,
        or a literal address (in any spelling) the policy refuses. None for a name,
        which is checked against what it resolves to at connect time."""
        problem = url_form_problem(url)
        if problem:
            return problem
        host = urlsplit(url).hostname or ""
        try:
            ip = parse_host(host)
        except BadHost as exc:
            return str(exc)
        if ip is None:
            return None
        return self.address_refusal(ip, host)


def url_form_problem(url: object) -> str | None:
    """What is wrong with a callback URL's form, or None."""
    if not isinstance(url, str) or not url:
        return "must be a non-empty string"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # e.g. a port out of range: urlsplit raises only when asked
        return f"invalid callback URL {url[:200]}: {exc}"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if port == 0:
        return "must not use port 0"
    if _host_matches(parts.hostname, METADATA_HOSTS):
        return "must not point at a cloud metadata service"
    return None


def network_problem(text: object) -> str | None:
    """Why a ``callback_allowed_networks`` entry is not a CIDR, or None."""
    if not isinstance(text, str):
        return "must be a string"
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        return str(exc)
    return None

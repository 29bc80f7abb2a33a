"""The egress policy: which addresses the platform may connect to when it calls an agent endpoint.

HTTP agents and LLM agents are URLs a team types in; the web process (verification) and the workers (episodes)
then send requests there. Unchecked, that lets a team probe the platform's own network (SSRF): the dashboard,
Redis, the database, a cloud metadata service. So every HTTP client that talks to an agent endpoint is made
by :func:`agent_client`, whose connections resolve the host once, judge every address it resolved to, and
connect to a judged address (TLS still uses the URL's host name for SNI and certificates). A name that
resolves to something else between a check and the connection (DNS rebinding) is therefore judged again on
the addresses actually used. Proxy environment variables are ignored and redirects are never followed.

An address is *internal* when it is loopback, private (RFC 1918, unique local), shared (100.64.0.0/10),
link-local, multicast, unspecified, reserved, or any other range that is not globally routable. IPv6 forms
that carry an IPv4 address (IPv4-mapped ``::ffff:127.0.0.1``, IPv4-compatible, NAT64, 6to4, Teredo) are
judged on that IPv4 address as well. Internal addresses are refused unless the allow-list admits them;
cloud metadata addresses (:data:`METADATA_NETWORKS`) are refused always.

The allow-list is the environment variable ``GAUNTLET_AGENT_EGRESS_ALLOW``, a comma-separated list of:

- an address or CIDR, any port: ``10.20.0.0/16``, ``192.168.1.20``, ``fd12:3456::/48``;
- the same with a port: ``10.20.0.7:8080``, ``10.20.0.0/16:8080``, ``[fd12::7]:8080``;
- a host name with a port: ``agents.corp.example:8443`` — a URL naming exactly that host and port may
  connect to whatever internal address the name resolves to;
- ``none``: nothing internal.

Unset or empty, it defaults to loopback only (``127.0.0.0/8``, ``::1``) while ``GAUNTLET_DEV`` is on (the
default, so agents on a developer's machine work) and to nothing when ``GAUNTLET_DEV`` is off (production).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import anyio
import httpcore
import httpx

ALLOW_ENV = "GAUNTLET_AGENT_EGRESS_ALLOW"
DEV_ENV = "GAUNTLET_DEV"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata and platform services that hand out credentials: never reachable, whatever the
# allow-list says (AWS IMDS and its IPv6 form, ECS task metadata, AWS DNS/NTP, Azure WireServer, Alibaba,
# Oracle). The rest of 169.254.0.0/16 is link-local and needs the allow-list like any internal address.
METADATA_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.169.254/32",
        "169.254.170.2/32",
        "169.254.169.253/32",
        "169.254.169.123/32",
        "fd00:ec2::254/128",
        "fd00:ec2::253/128",
        "168.63.129.16/32",
        "100.100.100.200/32",
        "192.0.0.192/32",
    )
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*")
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


class EgressRefused(Exception):
    """A connection to an agent endpoint was refused by the egress policy; the message says why."""


@dataclass(frozen=True)
class Rule:
    """One allow-list entry: a network or a host name, on one port or (``port`` None) on any."""

    network: IPNetwork | None = None
    host: str | None = None
    port: int | None = None

    def admits(self, host: str, address: IPAddress, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host is not None:
            return self.host == host
        return self.network is not None and address.version == self.network.version and address in self.network


@dataclass(frozen=True)
class EgressPolicy:
    """The allow-list; an empty policy admits no internal address."""

    rules: tuple[Rule, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EgressPolicy:
        """The policy the environment asks for (see the module docstring). Raises ValueError on a bad value."""
        environ = os.environ if environ is None else environ
        raw = environ.get(ALLOW_ENV, "").strip()
        if raw:
            return cls(parse_allow_list(raw))
        dev = environ.get(DEV_ENV, "").strip().lower()
        if dev not in ("", "1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ValueError(f"{DEV_ENV} must be a boolean (1/0, true/false, yes/no, on/off), got {dev!r}")
        return cls() if dev in ("0", "false", "no", "off") else cls(tuple(Rule(network=n) for n in LOOPBACK))

    def refusal(self, host: str, address: IPAddress, port: int) -> str | None:
        """Why connecting to ``address`` for a URL naming ``host``:``port`` is refused ("a loopback address
        ..."), or None if it is not."""
        host = normal_host(host)
        if address.version == 6 and address.ipv4_mapped is not None:
            # On a dual-stack socket an IPv4-mapped address *is* its IPv4 address.
            address = address.ipv4_mapped
        for judged in _destinations(address):
            if any(judged in n for n in METADATA_NETWORKS if n.version == judged.version):
                return "a cloud metadata address, never allowed"
            kind = internal_kind(judged)
            # Only the address actually dialled can be allow-listed, not an IPv4 address it merely carries.
            if kind and not any(rule.admits(host, address, port) for rule in self.rules):
                article = "an" if kind[0] in "aeiou" else "a"
                return f"{article} {kind} address, not allowed by {ALLOW_ENV}"
        return None


def normal_host(host: str) -> str:
    """A host name as the allow-list compares it: lower case, no brackets, no trailing dot."""
    return host.strip().strip("[]").rstrip(".").lower()


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{ALLOW_ENV}: {entry!r} has no valid port (1-65535)")
    return int(text)


def _network(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "/" in text:
            raise ValueError(f"{ALLOW_ENV}: {text!r} is not a network ({exc})") from None
        return None


def parse_rule(entry: str) -> Rule:
    """One allow-list entry as a Rule; ValueError with the entry in the message when it is not one."""
    text = entry.strip()
    if text.startswith("["):
        inside, _, rest = text[1:].partition("]")
        if not rest.startswith(":"):
            raise ValueError(f"{ALLOW_ENV}: write {entry!r} as [address]:port")
        network = _network(inside)
        if network is None or network.version != 6:
            raise ValueError(f"{ALLOW_ENV}: {inside!r} in {entry!r} is not an IPv6 address or network")
        return Rule(network=network, port=_port(rest[1:], entry))
    if text.count(":") > 1:  # a bare IPv6 address or network: no port
        network = _network(text)
        if network is None:
            raise ValueError(f"{ALLOW_ENV}: {entry!r} is not an IPv6 address or network")
        return Rule(network=network)
    name, _, port = text.partition(":")
    network = _network(name)
    if network is not None:
        return Rule(network=network, port=_port(port, entry) if port else None)
    host = normal_host(name)
    if not _HOST_NAME.fullmatch(host) or not port:
        raise ValueError(f"{ALLOW_ENV}: {entry!r} is neither an address, a network, nor host:port")
    return Rule(host=host, port=_port(port, entry))


def parse_allow_list(raw: str) -> tuple[Rule, ...]:
    """The rules of a comma-separated allow-list; ``none`` alone means no rule. ValueError when malformed."""
    entries = [e.strip() for e in raw.split(",") if e.strip()]
    if [e.lower() for e in entries] == ["none"]:
        return ()
    return tuple(parse_rule(e) for e in entries)


def _destinations(address: IPAddress) -> list[IPAddress]:
    """Where a connection to ``address`` may end up: itself, and the IPv4 address a NAT64, 6to4, Teredo or
    IPv4-compatible IPv6 address carries (a gateway forwards it there)."""
    if address.version == 4:
        return [address]
    found: list[IPAddress] = [address]
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in n for n in _NAT64) or (address in _IPV4_COMPATIBLE and int(address) > 1):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def internal_kind(address: IPAddress) -> str:
    """What kind of internal address this is ("loopback", "private", ...), or "" for a public one."""
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "non-public"
    return ""


def _address(sockaddr_host: str) -> IPAddress:
    # getaddrinfo gives scoped IPv6 link-local addresses as "fe80::1%eth0"; the scope is not part of the judgement.
    return ipaddress.ip_address(sockaddr_host.split("%", 1)[0])


def resolve(host: str, port: int, policy: EgressPolicy, *, names: bool = True) -> list[str]:
    """The addresses of ``host`` as IP strings, each judged by ``policy``; blocks on DNS.

    Raises EgressRefused if any address is refused (a name that also resolves to an internal address is not
    used at all: which one a client picks is not ours to predict), OSError if the name does not resolve.
    With ``names`` False nothing is looked up: numeric hosts in any spelling the C library accepts
    (``2130706433``, ``0x7f000001``, ``127.1``) and ``localhost`` names are judged, other names give [].
    """
    host = normal_host(host)
    flags = 0 if names else socket.AI_NUMERICHOST
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=flags)
    except socket.gaierror:
        if names:
            raise
        # Names under localhost are loopback wherever they are resolved (RFC 6761), so they are judged as such.
        if host != "localhost" and not host.endswith(".localhost"):
            return []
        infos = [(0, 0, 0, "", (text,)) for text in ("127.0.0.1", "::1")]
    addresses: list[str] = []
    for info in infos:
        text = info[4][0]
        if text not in addresses:
            addresses.append(text)
    for text in addresses:
        problem = policy.refusal(host, _address(text), port)
        if problem:
            said = f"{text} is" if text == host else f"{host} resolves to {text},"
            raise EgressRefused(f"{said} {problem}")
    if not addresses:
        raise OSError(f"{host} does not resolve")
    return addresses


def check_url(url: str, policy: EgressPolicy | None = None, *, names: bool = True) -> str:
    """Why the egress policy refuses ``url``, or "" when it may be tried. Blocks on DNS unless ``names`` is
    False (then only numeric and localhost hosts are judged, see :func:`resolve`).

    Only the policy is judged: a malformed URL, or a name that does not resolve, is not refused here (the
    drivers name a bad URL; a name may resolve by the time it is used, and every connection is judged again).
    """
    policy = policy or EgressPolicy.from_env()
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return ""
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return ""
    try:
        resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80), policy, names=names)
    except EgressRefused as exc:
        return f"refused by the egress policy: {exc}"
    except (OSError, UnicodeError):
        return ""
    return ""


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the policy admits, judged on the addresses actually dialled."""

    def __init__(self, policy: EgressPolicy):
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await anyio.to_thread.run_sync(resolve, host, port, self.policy, abandon_on_cancel=True)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"{host}: {exc}") from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise EgressRefused("agent endpoints are reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: EgressPolicy, **kwargs):
        super().__init__(trust_env=False, **kwargs)
        # httpx 0.28 has no public way to give its connection pool a network backend; the pool it built
        # above is replaced by the same pool on the guarded backend (proxies never apply: trust_env is off).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=httpx.Limits().max_connections,
            max_keepalive_connections=httpx.Limits().max_keepalive_connections,
            network_backend=_GuardedBackend(policy),
        )


def agent_client(*, timeout: httpx.Timeout, headers: dict | None = None, policy: EgressPolicy | None = None):
    """An httpx.AsyncClient for agent endpoints: every connection judged by ``policy`` (the environment's
    by default), no redirects followed, proxy variables and ``.netrc`` ignored.

    A refused connection raises :class:`EgressRefused` from the request, before anything is sent.
    """
    return httpx.AsyncClient(
        transport=_GuardedTransport(policy or EgressPolicy.from_env()),
        timeout=timeout,
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )

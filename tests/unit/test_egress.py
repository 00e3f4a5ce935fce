"""The callback egress policy: every spelling of an internal address is refused by
default, and the switches open exactly what they say."""

from __future__ import annotations

import ipaddress

import pytest

from web4ai.core.config import settings_from_spec, validate_config
from web4ai.core.egress import BadHost, EgressPolicy, classify, parse_host

DEFAULT = EgressPolicy()

# (url, expected reason fragment or None when allowed)
SPELLINGS: list[tuple[str, str | None]] = [
    # the list
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://[::ffff:a9fe:a9fe]/", "metadata"),
    ("http://2852039166/", "metadata"),
    ("http://0xa9.0xfe.0xa9.0xfe/", "metadata"),
    ("http://10.0.0.5/hook", "private"),
    ("http://127.0.0.1:1/hook", "loopback"),
    # metadata, other spellings and providers
    ("http://0251.0376.0251.0376/", "metadata"),
    ("http://0xa9fea9fe/", "metadata"),
    ("http://025177524776/", "metadata"),
    ("http://169.254.43518/", "metadata"),
    ("http://169.16689662/", "metadata"),
    ("http://169.254.169.254./", "metadata"),
    ("http://169.254.170.2/v2/credentials", "metadata"),
    ("http://100.100.100.200/latest/meta-data/", "metadata"),
    ("http://192.0.0.192/opc/v1/", "metadata"),
    ("http://[fd00:ec2::254]/latest/", "metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://METADATA.google.internal./x", "metadata"),
    # loopback
    ("http://127.1/", "loopback"),
    ("http://127.0.1/", "loopback"),
    ("http://2130706433/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://0177.0.0.1/", "loopback"),
    ("http://0x7f.0x0.0x0.0x1/", "loopback"),
    ("http://127.255.255.254/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[0:0:0:0:0:0:0:1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::127.0.0.1]/", "loopback"),  # IPv4-compatible
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4
    ("http://[64:ff9b::7f00:1]/", "loopback"),  # NAT64
    ("http://[64:ff9b:1::a00:5]/", "private"),  # local-use NAT64
    # unspecified
    ("http://0.0.0.0/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://0.0.0.7/", "unspecified"),
    ("http://[::]/", "unspecified"),
    # private ranges
    ("http://172.16.0.1/", "private"),
    ("http://172.31.255.255/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://0xc0a80101/", "private"),
    ("http://3232235777/", "private"),
    ("http://012.0.0.5/", "private"),
    ("http://10.5/", "private"),
    ("http://100.64.0.1/", "private"),
    ("http://100.127.255.254/", "private"),
    ("http://[fc00::1]/", "private"),
    ("http://[fd12:3456::1]/", "private"),
    ("http://[::ffff:10.0.0.5]/", "private"),
    ("http://[::ffff:a00:5]/", "private"),
    ("http://[2002:c0a8:101::1]/", "private"),
    ("http://[64:ff9b::192.168.1.1]/", "private"),
    # link-local
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fe80::1%25eth0]/", "link-local"),
    ("http://[::ffff:169.254.1.1]/", "link-local"),
    # multicast and reserved
    ("http://224.0.0.1/", "multicast"),
    ("http://239.255.255.250/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("http://192.0.2.1/", "reserved"),
    ("http://198.18.0.1/", "reserved"),
    ("http://[2001:db8::1]/", "reserved"),
    # malformed numeric hosts are refused, not guessed
    ("http://1.2.3.256/", "out of range"),
    ("http://0x100000000/", "out of range"),
    ("http://08.0.0.1/", "not a number"),
    ("http://1.2.3.4.5/", "too many"),
    # form
    ("ftp://example.com/x", "http or https"),
    ("http:///nohost", "must name a host"),
    ("http://user:pw@example.com/", "credentials"),
    # allowed: public addresses in any spelling, and names (checked when resolved)
    ("https://myapp.com/webhook/task_complete", None),
    ("http://93.184.216.34/", None),
    ("http://1572395042/", None),  # 93.184.216.34
    ("http://0x5db8d822/", None),
    ("http://8.8.8.8:8080/hook", None),
    ("http://[2606:4700:4700::1111]/", None),
    ("http://[::ffff:8.8.8.8]/", None),
    ("http://[2002:808:808::1]/", None),  # 6to4 of a public address
    ("http://[64:ff9b::808:808]/", None),  # NAT64 of a public address
    ("http://hooks.internal.example/", None),
    ("http://10.0.0.5.nip.io/", None),  # a name: its addresses are checked at connect time
]


@pytest.mark.parametrize(("url", "expected"), SPELLINGS, ids=[u for u, _ in SPELLINGS])
def test_callback_url_spellings(url: str, expected: str | None) -> None:
    refusal = DEFAULT.url_refusal(url)
    if expected is None:
        assert refusal is None
    else:
        assert refusal is not None and expected in refusal


def test_the_table_is_large_and_covers_every_kind() -> None:
    assert len(SPELLINGS) >= 40
    kinds = {e for _, e in SPELLINGS}
    for kind in (
        "metadata",
        "loopback",
        "private",
        "link-local",
        "unspecified",
        "multicast",
        "reserved",
        None,
    ):
        assert kind in kinds


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2852039166", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("127.1", "127.0.0.1"),
        ("10.1.2", "10.1.0.2"),
        ("0x", "0.0.0.0"),
        ("[::ffff:a9fe:a9fe]", "::ffff:a9fe:a9fe"),
    ],
)
def test_hosts_are_read_as_inet_aton_reads_them(host: str, address: str) -> None:
    assert parse_host(host) == ipaddress.ip_address(address)


def test_names_are_not_addresses() -> None:
    assert parse_host("example.com") is None
    assert parse_host("1.2.3.example") is None
    with pytest.raises(BadHost):
        parse_host("[not-ipv6:]")


def test_resolved_addresses_are_checked_every_one() -> None:
    assert DEFAULT.addresses_refusal(["93.184.216.34"]) is None
    refusal = DEFAULT.addresses_refusal(["93.184.216.34", "10.0.0.1"])
    assert refusal is not None and "10.0.0.1" in refusal
    assert DEFAULT.addresses_refusal(["fe80::1%eth0"]) is not None
    assert classify(ipaddress.ip_address("::ffff:169.254.169.254")) is not None


def test_allow_private_opens_private_ranges_only() -> None:
    policy = EgressPolicy.build(allow_private=True)
    for url in (
        "http://127.0.0.1/",
        "http://10.0.0.5/",
        "http://172.16.0.1/",
        "http://192.168.0.1/",
        "http://100.64.0.1/",
        "http://[fd00::1]/",
        "http://169.254.1.1/",
        "http://[::ffff:10.0.0.5]/",
    ):
        assert policy.url_refusal(url) is None, url
    for url in (
        "http://169.254.169.254/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
    ):
        assert policy.url_refusal(url) is not None, url


def test_allowed_networks_open_exactly_their_addresses() -> None:
    policy = EgressPolicy.build(allowed_networks=["10.96.0.0/12", "127.0.0.1/32"])
    assert policy.url_refusal("http://10.96.0.10/") is None
    assert policy.url_refusal("http://10.111.255.255/") is None
    assert policy.url_refusal("http://127.0.0.1:8080/") is None
    assert policy.url_refusal("http://10.112.0.1/") is not None
    assert policy.url_refusal("http://10.95.255.255/") is not None
    assert policy.url_refusal("http://127.0.0.2/") is not None
    assert policy.url_refusal("http://192.168.0.1/") is not None
    assert policy.url_refusal("http://169.254.169.254/") is not None
    # an explicit entry opens even a metadata address
    metadata = EgressPolicy.build(allowed_networks=["169.254.169.254/32"])
    assert metadata.url_refusal("http://169.254.169.254/") is None
    assert metadata.url_refusal("http://169.254.169.253/") is not None


def test_allowed_hosts_open_private_addresses_for_those_names_only() -> None:
    policy = EgressPolicy.build(allowed_hosts=["receiver.apps.svc", "*.hooks.svc"])
    assert policy.addresses_refusal(["10.0.0.7"], "receiver.apps.svc") is None
    assert policy.addresses_refusal(["10.0.0.7"], "RECEIVER.apps.svc.") is None
    assert policy.addresses_refusal(["10.0.0.7"], "a.hooks.svc") is None
    assert policy.addresses_refusal(["10.0.0.7"], "hooks.svc") is not None
    assert policy.addresses_refusal(["10.0.0.7"], "other.apps.svc") is not None
    # the metadata address stays refused even for an allowed name
    assert policy.addresses_refusal(["169.254.169.254"], "receiver.apps.svc") is not None


def test_settings_and_validation_of_the_new_keys() -> None:
    settings = settings_from_spec(
        {
            "security": {
                "callbackAllowedNetworks": ["10.96.0.0/12"],
                "callbackAllowedHosts": ["r.svc"],
                "maxAgentsPerNode": 8,
            }
        }
    )
    assert settings.max_agents_per_node == 8
    assert settings.egress_policy().url_refusal("http://10.96.0.1/") is None
    assert settings_from_spec({}).max_agents_per_node == 64
    errors = validate_config({"security": {"callback_allowed_networks": ["10.0.0.0/33"]}})
    assert [e.field for e in errors] == ["security.callback_allowed_networks"]
    assert validate_config({"security": {"callback_allowed_networks": ["fd00::/8"]}}) == []


def test_failed_authentication_is_limited_per_address() -> None:
    from web4ai.core.ratelimit import FailureLimiter

    limiter = FailureLimiter(per_minute=3)
    assert limiter.retry_after("a", 0.0) == 0.0
    for _ in range(3):
        limiter.failed("a", 0.0)
    assert limiter.retry_after("a", 0.0) == pytest.approx(20.0)
    assert limiter.retry_after("b", 0.0) == 0.0  # other addresses are unaffected
    assert limiter.retry_after("a", 20.0) == 0.0  # one failure per 20 s refills


def test_a_node_key_claims_bounded_capacity_and_pinned_capabilities() -> None:
    from web4ai.core.restriction import registration_refusal

    assert registration_refusal({"agentsCount": 64}, 64, None) is None
    refusal = registration_refusal({"agentsCount": 100000}, 64, None)
    assert refusal is not None and "at most 64" in refusal
    assert registration_refusal({"maxConcurrentTasks": 65}, 64, None) is not None
    assert registration_refusal({"agents": [{}] * 65}, 64, None) is not None
    assert registration_refusal({"capabilities": ["a"]}, 64, ["a", "b"]) is None
    refusal = registration_refusal(
        {"capabilities": ["a"], "agents": [{"capabilities": ["gpu"]}]}, 64, ["a"]
    )
    assert refusal is not None and "gpu" in refusal
    assert registration_refusal({"capabilities": ["anything"]}, 64, None) is None


def test_a_port_out_of_range_is_a_reason_not_a_crash() -> None:
    refusal = DEFAULT.url_refusal("http://127.0.0.1:99999/")
    assert refusal is not None and "invalid callback URL" in refusal and "99999" in refusal

from pathlib import Path

from devtools.localcluster.ports import free_port, listener_range


def test_ports_are_picked_below_the_ephemeral_range() -> None:
    assert listener_range("32768\t60999\n") == (22768, 32768)


def test_an_unreadable_or_low_range_falls_back_to_a_fixed_block() -> None:
    assert listener_range(None) == (20000, 30000)
    assert listener_range("garbage") == (20000, 30000)
    assert listener_range("2000 60999") == (20000, 30000)


def test_one_process_never_gets_the_same_port_twice() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    low, high = listener_range(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text())
    assert all(low <= p < high for p in ports)

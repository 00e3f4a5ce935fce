"""Disruption mode (pure, injected time)."""

from __future__ import annotations

from web4ai.core.disruption import DisruptionGuard


def test_a_start_or_new_leadership_holds_for_the_grace_period() -> None:
    g = DisruptionGuard()
    g.hold(100.0, "became leader")
    assert not g.may_mark_offline(1, 10, 100.0, 0.55, 60.0)
    assert not g.may_mark_offline(1, 10, 159.9, 0.55, 60.0)
    assert g.may_mark_offline(1, 10, 160.0, 0.55, 60.0)
    assert not g.may_mark_offline(1, 10, 160.0, 0.55, 90.0)  # a longer grace applies at once


def test_few_silent_nodes_go_offline_at_once() -> None:
    g = DisruptionGuard()
    assert g.may_mark_offline(5, 10, 0.0, 0.55, 60.0)  # 50 % is not more than 55 %


def test_a_mass_silence_holds_once_per_episode() -> None:
    g = DisruptionGuard()
    assert not g.may_mark_offline(6, 10, 0.0, 0.55, 60.0)  # 60 %: hold
    assert "6/10" in g.reason
    assert not g.may_mark_offline(10, 10, 59.0, 0.55, 60.0)
    assert g.may_mark_offline(10, 10, 60.0, 0.55, 60.0)  # still silent after the grace
    assert g.may_mark_offline(10, 10, 61.0, 0.55, 60.0)  # same episode: no new hold
    assert g.may_mark_offline(0, 10, 100.0, 0.55, 60.0)  # recovered: episode over
    assert not g.may_mark_offline(7, 10, 200.0, 0.55, 60.0)  # a new episode holds again


def test_one_node_alone_is_not_a_disruption() -> None:
    g = DisruptionGuard()
    assert g.may_mark_offline(1, 1, 0.0, 0.55, 60.0)

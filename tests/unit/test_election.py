"""Leader election judges another holder by local observation time (pure)."""

from __future__ import annotations

from web4ai.core.election import Observation


def test_a_record_that_stops_changing_expires_by_our_clock() -> None:
    o = Observation()
    # the holder's clock is an hour behind ours: its renewTime looks ancient, yet it renews
    o.observe(("a", "2026-01-01T00:00:00Z"), 1000.0)
    assert o.held_by_other(1000.0, 15.0)
    o.observe(("a", "2026-01-01T00:00:02Z"), 1002.0)
    assert o.held_by_other(1016.0, 15.0)
    o.observe(("a", "2026-01-01T00:00:02Z"), 1017.0)  # unchanged: no renewal seen
    assert not o.held_by_other(1017.0, 15.0)


def test_a_holder_whose_clock_runs_ahead_does_not_keep_the_lease_forever() -> None:
    o = Observation()
    o.observe(("b", "2099-01-01T00:00:00Z"), 50.0)  # renewTime far in our future
    assert o.held_by_other(64.0, 15.0)
    assert not o.held_by_other(65.0, 15.0)


def test_the_identity_names_the_pod_when_the_hostname_is_the_nodes() -> None:
    from web4ai.operator.runner import default_identity

    assert default_identity({"POD_NAME": "web4ai-operator-7d9-x2"}).startswith(
        "web4ai-operator-7d9-x2-"
    )
    a, b = default_identity({}), default_identity({})
    assert a != b  # two processes on one host (network) never share an identity


def test_every_lease_the_processes_make_carries_the_part_of_label() -> None:
    from web4ai.core.objects import lease_object

    # the README's uninstall deletes what the processes made by this label
    assert lease_object("web4ai-operator", {})["metadata"]["labels"] == {
        "app.kubernetes.io/part-of": "web4ai"
    }
    labels = lease_object("n", {}, {"web4ai.io/node-id": "n1"})["metadata"]["labels"]
    assert labels == {"app.kubernetes.io/part-of": "web4ai", "web4ai.io/node-id": "n1"}


def test_a_released_lease_goes_to_the_standing_replica_not_the_newcomer() -> None:
    standby, newcomer = Observation(), Observation()
    standby.observe(("leader", "t1"), 0.0)
    standby.observe(("leader", "t9"), 18.0)
    newcomer.observe(("leader", "t9"), 19.0)  # the deleted leader's replacement starts
    # the leader lets go on shutdown
    released = ("", "1970-01-01T00:00:00Z")
    newcomer.observe(released, 20.0)
    assert not newcomer.may_take("", 20.0, 15.0, grace=4.0)
    assert not newcomer.may_take("", 23.0, 15.0, grace=4.0)
    standby.observe(released, 21.0)  # its next poll, within one retry period
    assert standby.may_take("", 21.0, 15.0, grace=4.0)
    # had nobody taken it (a lone replica restarting), the newcomer would after the grace
    assert newcomer.may_take("", 24.0, 15.0, grace=4.0)


def test_a_held_lease_is_taken_only_once_it_goes_unrenewed() -> None:
    o = Observation()
    o.observe(("leader", "t1"), 0.0)
    assert not o.may_take("leader", 14.0, 15.0, grace=4.0)
    assert o.may_take("leader", 16.0, 15.0, grace=4.0)


def test_a_replacement_that_came_up_before_a_slow_release_is_still_a_newcomer() -> None:
    o = Observation()
    o.observe(("leader", "t9"), 100.0)  # up 6 s before the old leader let go
    o.observe(("", "1970-01-01T00:00:00Z"), 106.0)
    assert not o.may_take("", 106.0, 15.0, grace=4.0)  # the standby goes first
    assert o.may_take("", 110.0, 15.0, grace=4.0)

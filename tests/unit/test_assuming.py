from web4ai.core.assuming import Assumed


def test_assumed_task_counts_against_its_node_and_is_skipped_at_that_version() -> None:
    a = Assumed()
    a.assume("t1", "n1", "10")
    a.assume("t2", "n1", "11")
    a.assume("t3", "n2", "12")
    assert a.counts() == {"n1": 2, "n2": 1}
    assert a.holds("t1", "10")
    assert not a.holds("t1", "13")  # a newer version is decided afresh
    assert not a.holds("t4", "1")
    assert len(a) == 3


def test_expire_drops_tasks_the_cache_shows_changed_or_gone() -> None:
    a = Assumed()
    a.assume("seen", "n1", "10")
    a.assume("unseen", "n1", "11")
    a.assume("gone", "n2", "12")
    cache = {"seen": "20", "unseen": "11"}
    a.expire(cache.get)
    assert set(a.entries) == {"unseen"}
    assert a.counts() == {"n1": 1}


def test_forget_only_the_assumption_made_on_that_version() -> None:
    a = Assumed()
    a.assume("t", "n1", "10")
    a.forget("t", "9")  # an older write returning late does not drop a newer decision
    assert a.holds("t", "10")
    a.forget("t", "10")
    assert not a.holds("t", "10") and not a.counts()
    a.forget("t")  # idempotent


def test_expire_among_names_looks_only_at_those() -> None:
    a = Assumed()
    a.assume("seen", "n1", "10")
    a.assume("also-changed", "n1", "11")
    a.assume("unknown-name-is-fine", "n1", "12")
    cache = {"seen": "20", "also-changed": "21", "unknown-name-is-fine": "12"}
    a.expire(cache.get, ["seen", "not-assumed"])
    assert set(a.entries) == {"also-changed", "unknown-name-is-fine"}
    a.expire(cache.get)  # the full sweep catches the rest
    assert set(a.entries) == {"unknown-name-is-fine"}

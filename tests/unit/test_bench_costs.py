"""bench.costs: the API server's counters read from its /metrics text, the costs per
task between two samples, and a py-spy profile summarised (pure functions)."""

from bench import costs

METRICS = """\
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",resource="web4aitasks",subresource="",verb="POST"} 10
apiserver_request_total{code="200",resource="web4aitasks",subresource="status",verb="PATCH"} 18
apiserver_request_total{code="409",resource="web4aitasks",subresource="status",verb="PATCH"} 2
apiserver_request_total{code="200",resource="web4aitasks",subresource="",verb="GET"} 3
apiserver_request_total{code="200",resource="configmaps",subresource="",verb="PUT"} 99
# TYPE apiserver_request_body_size_bytes histogram
apiserver_request_body_size_bytes_sum{resource="web4aitasks",verb="patch"} 8000
apiserver_request_body_size_bytes_count{resource="web4aitasks",verb="patch"} 20
# TYPE apiserver_watch_events_total counter
apiserver_watch_events_total{group="web4ai.io",resource="web4aitasks",version="v1alpha1"} 60
apiserver_watch_events_total{group="",resource="configmaps",version="v1"} 7
# TYPE apiserver_watch_events_sizes histogram
apiserver_watch_events_sizes_sum{group="web4ai.io",resource="web4aitasks",version="v1alpha1"} 90000
apiserver_watch_events_sizes_count{group="web4ai.io",resource="web4aitasks",version="v1alpha1"} 60
"""


def test_the_servers_counters_are_read_by_verb_and_resource() -> None:
    c = costs.server_counters(METRICS)
    assert c["writes|POST web4aitasks"] == 10
    assert c["writes|PATCH web4aitasks/status"] == 20  # every code counts
    assert c["reads|GET web4aitasks"] == 3
    assert "writes|PUT configmaps" not in c  # the control plane's own traffic
    assert c["watch_events|web4aitasks"] == 60
    assert "watch_events|configmaps" not in c


def test_costs_per_task_are_the_differences_divided_by_the_tasks() -> None:
    before = costs.Sample({"api": 1.0, "nodes": 0.5}, {"writes|POST web4aitasks": 4.0})
    after = costs.Sample({"api": 1.1, "nodes": 0.6}, costs.server_counters(METRICS))
    out = costs.per_task(before, after, 2)
    assert out["cpu_ms"] == {"api": 50.0, "nodes": 50.0, "all": 100.0}
    assert out["writes"] == {"PATCH web4aitasks/status": 10.0, "POST web4aitasks": 3.0}
    assert out["writes_total"] == 13.0
    assert out["bytes_per_write"] == {"patch web4aitasks": 400}
    assert out["watch_events"] == {"web4aitasks": 30.0}
    assert out["bytes_per_watch_event"] == {"web4aitasks": 1500}


def test_a_profile_is_summarised_by_self_and_inclusive_shares() -> None:
    collapsed = "\n".join(
        [
            "process 1;main (app/server.py:10);handle (api/tasks.py:20);dumps (json/enc.py:1) 3",
            "process 1;main (app/server.py:10);handle (api/tasks.py:20) 1",
            "process 1;main (app/server.py:10);select (selectors.py:5) 4",
        ]
    )
    t = costs.top(collapsed)
    assert t["samples"] == 8
    assert t["self"][0] == ("selectors.py:select", 50.0)
    assert ("json/enc.py:dumps", 37.5) in t["self"]
    assert ("api/tasks.py:handle", 50.0) in t["inclusive"]
    assert ("app/server.py:main", 100.0) in t["inclusive"]


def test_object_sizes_split_a_stored_object() -> None:
    obj = {
        "metadata": {"name": "t", "managedFields": [{"manager": "a"}, {"manager": "b"}]},
        "spec": {"taskId": "t"},
        "status": {"attempts": [{"nodeId": "n"}]},
    }
    sizes = costs.object_sizes(obj)
    assert sizes["managers"] == 2
    assert sizes["attempts"] == len('[{"nodeId":"n"}]')
    assert sizes["total"] > sizes["managedFields"] + sizes["spec"] + sizes["status"]

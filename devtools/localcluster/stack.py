"""``make run``: the whole product on one machine.

The local control plane (or, with WEB4AI_USE_EXISTING_CLUSTER=1, the cluster
of KUBECONFIG), the CRDs, the operator, the API on 127.0.0.1:9000/9001 and
demo nodes, as child processes that die with this one. Like a small cluster, the
operator and the API are restarted with backoff when they die, and a demo node that dies
is a node failure the orchestrator handles. Ctrl-C stops them all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from devtools.localcluster.binaries import binary
from devtools.localcluster.controlplane import die_with_parent
from devtools.localcluster.supervise import Component, Supervisor
from devtools.localcluster.target import open_cluster, resolve_target
from web4ai.k8s import crds as crds_mod

REPO = Path(__file__).resolve().parents[2]


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "web4ai", *args],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
        preexec_fn=die_with_parent,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make run", description=__doc__)
    p.add_argument("--crds", type=Path, default=Path("crds"))
    p.add_argument("--nodes", type=int, default=3, help="demo nodes to start (default 3)")
    p.add_argument("--namespace", default="default")
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--ws-port", type=int, default=9001)
    p.add_argument("--config", help="a YAML configuration to load (web4ai --generate-config)")
    p.add_argument(
        "--logs", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "web4ai-run"
    )
    args = p.parse_args(argv)

    stop = {"now": False}

    def request_stop(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    target = resolve_target()
    plane = None
    children: list[subprocess.Popen[bytes]] = []
    sup: Supervisor | None = None
    try:
        kubeconfig, plane = open_cluster(target)
        asyncio.run(crds_mod.install_with_kubeconfig(kubeconfig, args.crds))
        args.logs.mkdir(parents=True, exist_ok=True)
        key = os.environ.get("WEB4AI_API_KEY") or "w4a_" + secrets.token_urlsafe(24)
        base = f"http://127.0.0.1:{args.port}/api/v1"
        kubectl = binary("kubectl")
        env = {
            **os.environ,
            "KUBECONFIG": kubeconfig,
            "WEB4AI_API_KEY": key,
            "WEB4AI_URL": base,
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }
        sup = Supervisor(time.monotonic, lambda m: print(f"[make run] {m}", flush=True))
        operator_args = [
            "operator",
            "--namespace",
            args.namespace,
            "--api-url",
            f"http://127.0.0.1:{args.port}/api/v1",
        ]
        sup.add(
            Component(
                "operator",
                lambda: _spawn(operator_args, args.logs / "operator.log", env),
                restart=True,
            )
        )
        api_args = [
            "api",
            "--namespace",
            args.namespace,
            "--port",
            str(args.port),
            "--ws-port",
            str(args.ws_port),
        ]
        if args.config:
            api_args += ["--config", args.config]
        api = sup.add(
            Component("api", lambda: _spawn(api_args, args.logs / "api.log", env), restart=True)
        )
        assert api.proc is not None
        ready = _wait_ready(base, api.proc, stop)
        for i in range(1, args.nodes + 1):
            node_args = [
                "node",
                "--node-id",
                f"demo-node-{i}",
                "--agents",
                "2",
                "--heartbeat-interval",
                "5",
            ]
            log = args.logs / f"demo-node-{i}.log"
            sup.add(
                Component(
                    f"demo-node-{i}",
                    lambda a=node_args, lg=log: _spawn(a, lg, env),  # type: ignore[misc]
                    restart=False,
                )
            )
        if ready:
            print(
                f"""
Web4AI Orchestrator is running.
  API:        {base}   (try: curl {base}/health)
  WebSocket:  ws://127.0.0.1:{args.ws_port}  and  ws://127.0.0.1:{args.port}/api/v1/ws
  Dashboard:  http://127.0.0.1:{args.port}/
  Metrics:    http://127.0.0.1:9100/metrics (API)  http://127.0.0.1:8081/metrics (operator)
  Admin API key: {key}
  In another shell:
    export WEB4AI_API_KEY={key} KUBECONFIG={kubeconfig}
    alias web4ai='PYTHONPATH={REPO} {sys.executable} -m web4ai'
    alias kubectl={kubectl}
    web4ai tasks submit test_task --input '{{"message": "Hello, Web4AI!"}}' --wait
    kubectl get web4ai
  Logs: {args.logs}
Ctrl-C stops everything.""",
                flush=True,
            )
        while not stop["now"]:
            sup.check()  # a dead node is a node failure; a dead operator/API restarts
            time.sleep(0.5)
    finally:
        if sup is not None:
            children = sup.running()
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in reversed(children):
            try:
                child.wait(timeout=40)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if plane is not None:
            plane.stop()
        print("stopped", flush=True)
    return 0


def _wait_ready(base: str, api: subprocess.Popen[bytes], stop: dict[str, bool]) -> bool:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not stop["now"] and api.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


if __name__ == "__main__":
    sys.exit(main())

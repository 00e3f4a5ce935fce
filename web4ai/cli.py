"""The ``web4ai`` command.

    web4ai api | operator | node [options]       run a component (--help: their options)
    web4ai tasks submit TYPE [--input JSON] [--wait]
    web4ai tasks get|wait|cancel|retry TASK_ID...
    web4ai tasks list [--status S] [--phase P]   work with tasks
    web4ai nodes list | get NODE_ID
    web4ai nodes maintenance|activate NODE_ID
    web4ai nodes drain NODE_ID [--deadline S]
    web4ai nodes delete NODE_ID                  work with nodes (delete: unregister)
{admin}
    web4ai --generate-config [FILE]              write orchestrator_config.yaml

The API URL and key come from --url/--api-key or WEB4AI_URL/WEB4AI_API_KEY; the URL may
be the server's root (http://host:9000) or the API base (http://host:9000/api/v1).
Tables show durations for people; -o json prints the API's raw answers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from web4ai.bars import progress_lines
from web4ai.client import Client, Web4AIError
from web4ai.client.errors import TERMINAL
from web4ai.commands import admin
from web4ai.commands.tables import duration, emit, field_rows
from web4ai.core.configdoc import CONFIG_TEMPLATE
from web4ai.core.model import TaskPhase


def json_arg(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None


def wait_many(client: Client, ids: list[str], timeout: float, quiet: bool) -> list[dict[str, Any]]:
    """Wait for every task, showing a progress bar per task on stderr (redrawn in place
    on a terminal, a new block when something changed otherwise)."""
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    latest: dict[str, dict[str, Any]] = {i: {"task_id": i} for i in ids}
    tty = sys.stderr.isatty()
    shown: list[str] = []
    while len(done) < len(ids):
        for task_id in ids:
            if task_id not in done:
                task = latest[task_id] = client.get(task_id)
                if task["status"] in TERMINAL:
                    done[task_id] = task
        lines = progress_lines([latest[i] for i in ids])
        if not quiet and lines != shown:
            up = f"\x1b[{len(shown)}F\x1b[J" if tty and shown else ""
            print(up + "\n".join(lines), file=sys.stderr, flush=True)
            shown = lines
        if len(done) < len(ids):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(ids) - len(done)} task(s) unfinished after {timeout}s")
            time.sleep(0.5)
    return [done[i] for i in ids]


def tasks_command(args: argparse.Namespace, client: Client) -> int:
    if args.action == "submit":
        fields: dict[str, Any] = {"input_data": args.input or {}}
        for key in ("priority", "timeout", "max_retries", "task_id", "callback_url"):
            if getattr(args, key) is not None:
                fields[key] = getattr(args, key)
        if args.requirements:
            fields["requirements"] = args.requirements
        ids = [client.submit(args.type, **fields) for _ in range(args.count)]
        if args.wait:
            tasks = wait_many(client, ids, args.wait_timeout, args.output == "json")
            emit(
                tasks,
                args.output,
                [("TASK", "STATUS", "NODE", "TIME")]
                + [
                    (
                        t["task_id"],
                        t["status"],
                        str(t.get("node_id")),
                        duration(t.get("execution_time")),
                    )
                    for t in tasks
                ],
            )
            return 0 if all(t["status"] == "completed" for t in tasks) else 1
        emit({"task_ids": ids}, args.output, [("TASK",)] + [(i,) for i in ids])
        return 0
    if args.action == "get":
        task = client.get(args.ids[0])
        emit(task, args.output, [("FIELD", "VALUE"), *field_rows(task, time.time())])
        return 0
    if args.action == "wait":
        tasks = wait_many(client, args.ids, args.wait_timeout, args.output == "json")
        emit(
            tasks,
            args.output,
            [("TASK", "STATUS", "PHASE", "NODE", "ERROR")]
            + [
                (
                    t["task_id"],
                    t["status"],
                    str(t.get("phase")),
                    str(t.get("node_id")),
                    t.get("error_message", ""),
                )
                for t in tasks
            ],
        )
        return 0 if all(t["status"] == "completed" for t in tasks) else 1
    if args.action in ("cancel", "retry"):
        if not args.ids:
            raise SystemExit(f"web4ai tasks {args.action} needs a TASK_ID")
        act = client.cancel if args.action == "cancel" else client.retry
        done = [act(i) for i in args.ids]
        emit(
            done,
            args.output,
            [("TASK", "STATUS", "PHASE")]
            + [(t["task_id"], t["status"], str(t.get("phase"))) for t in done],
        )
        return 0
    listing = client.list_tasks(args.status, args.limit, args.offset, args.phase)
    rows = [("TASK", "STATUS", "PHASE", "TYPE", "NODE")]
    for group, items in listing["tasks"].items():
        rows += [
            (
                t["task_id"],
                group,
                str(t.get("phase")),
                str(t.get("task_type")),
                str(t.get("node_id")),
            )
            for t in items
        ]
    emit(listing, args.output, rows)
    return 0


def nodes_command(args: argparse.Namespace, client: Client) -> int:
    if args.action == "list":
        nodes = client.list_nodes()
        emit(
            nodes,
            args.output,
            [("NODE", "STATUS", "HOST", "AGENTS", "CPU", "LOAD")]
            + [
                (
                    n["node_id"],
                    n["status"],
                    n["host"],
                    str(n["agents_count"]),
                    f"{n['cpu_usage']:.1f}",
                    f"{n['load_score']:.2f}",
                )
                for n in nodes.values()
            ],
        )
        return 0
    if not args.node_id:
        raise SystemExit(f"web4ai nodes {args.action} needs a NODE_ID")
    if args.action == "get":
        node = client.get_node(args.node_id)
        emit(node, args.output, [("FIELD", "VALUE"), *field_rows(node, time.time())])
        return 0
    if args.action == "drain":
        result = client.drain(args.node_id, args.deadline)
        emit(
            result,
            args.output,
            [
                ("NODE", "RUNNING", "DEADLINE"),
                (args.node_id, str(result["tasks_running"]), duration(result.get("deadline"))),
            ],
        )
        return 0
    if args.action == "delete":
        result = client.delete_node(args.node_id)
        emit(result, args.output, [("NODE", "STATE"), (args.node_id, "unregistered")])
        return 0
    status = "maintenance" if args.action == "maintenance" else "active"
    result = client.set_node_status(args.node_id, status)
    emit(
        result,
        args.output,
        [("NODE", "OLD", "NEW"), (args.node_id, str(result["old_status"]), result["new_status"])],
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="web4ai",
        description=(__doc__ or "").format(admin=admin.HELP),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", default=os.environ.get("WEB4AI_URL", "http://127.0.0.1:9000/api/v1"))
    p.add_argument("--api-key", default=os.environ.get("WEB4AI_API_KEY"))
    p.add_argument("--output", "-o", choices=["table", "json"], default="table")
    p.add_argument(
        "--generate-config",
        nargs="?",
        const="orchestrator_config.yaml",
        metavar="FILE",
        help="write the documented default configuration",
    )
    sub = p.add_subparsers(dest="command")
    for name in ("api", "operator", "node"):
        sub.add_parser(name, add_help=False, help=f"run the {name}")
    sub.add_parser("uninstall", add_help=False, help="remove what the product made in a namespace")
    t = sub.add_parser("tasks", help="submit, get, wait for and list tasks")
    t.add_argument("action", choices=["submit", "get", "wait", "list", "cancel", "retry"])
    t.add_argument(
        "ids", nargs="*", help="task ids (get, wait, cancel, retry) or the task type (submit)"
    )
    t.add_argument("--input", type=json_arg, help="input_data as JSON")
    t.add_argument("--requirements", type=json_arg, help="requirements as JSON")
    t.add_argument("--priority", type=int)
    t.add_argument("--timeout", type=int)
    t.add_argument("--max-retries", type=int)
    t.add_argument("--task-id")
    t.add_argument("--callback-url")
    t.add_argument("--count", type=int, default=1, help="submit this many tasks")
    t.add_argument("--wait", action="store_true", help="wait for the submitted tasks")
    t.add_argument("--wait-timeout", type=float, default=300.0)
    t.add_argument("--status", choices=["pending", "active", "completed", "failed"])
    t.add_argument("--phase", choices=[p.value for p in TaskPhase])
    t.add_argument("--limit", type=int, default=50)
    t.add_argument("--offset", type=int, default=0)
    n = sub.add_parser("nodes", help="list and manage nodes")
    n.add_argument("action", choices=["list", "get", "maintenance", "activate", "drain", "delete"])
    n.add_argument("node_id", nargs="?")
    n.add_argument(
        "--deadline", type=float, help="drain: requeue tasks still running after SECONDS"
    )
    admin.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("api", "operator", "node", "uninstall"):
        return run_component(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    if args.generate_config:
        path = Path(args.generate_config)
        if path.exists():
            print(f"{path} exists; not overwriting", file=sys.stderr)
            return 1
        path.write_text(CONFIG_TEMPLATE)
        print(f"wrote {path}")
        return 0
    if args.command not in ("tasks", "nodes", *admin.COMMANDS):
        build_parser().print_help()
        return 2
    if args.command == "tasks":
        if args.action in ("get", "wait", "submit") and not args.ids:
            raise SystemExit(
                f"web4ai tasks {args.action} needs "
                + ("a TASK_TYPE" if args.action == "submit" else "TASK_ID(s)")
            )
        if args.action == "submit":
            args.type = args.ids[0]
    try:
        with Client(args.url, args.api_key) as client:
            if args.command == "tasks":
                return tasks_command(args, client)
            if args.command == "nodes":
                return nodes_command(args, client)
            return admin.COMMANDS[args.command](args, client)
    except Web4AIError as exc:
        print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1


def run_component(name: str, argv: list[str]) -> int:
    if name == "uninstall":
        from web4ai.commands.uninstall import main as uninstall_main

        return uninstall_main(argv)
    if name == "node":
        from web4ai.node.__main__ import main as node_main

        return node_main(argv)
    if name == "operator":
        from web4ai.operator.__main__ import main as operator_main

        return operator_main(argv)
    import logging

    from web4ai.api.__main__ import parse_args
    from web4ai.api.server import main as api_main

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    api_main(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())

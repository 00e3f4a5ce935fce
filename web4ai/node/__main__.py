"""``python -m web4ai.node`` (also ``web4ai node``): run the reference node."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from web4ai.node.agent import NodeAgent
from web4ai.node.config import load_config


def main(argv: list[str] | None = None) -> int:
    config = load_config(argv)
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s %(levelname)s {config.node_id} %(message)s"
    )

    async def amain() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await NodeAgent(config).serve(stop)

    asyncio.run(amain())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A tiny bot-shaped process for the signal tests: `python -m tests.bot.shutdown_child MODE`.

It registers three stop callbacks like the real bot would (database first, so it closes last), prints
one line per step on stdout, and exits 0 when shutdown was clean, 1 when it was not. MODE sets what the
outbox flush does: "quick" finishes, "hangs" awaits forever, "blocks" blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from bot.ops.shutdown import Shutdown


def say(text: str) -> None:
    print(text, flush=True)


async def main(mode: str) -> int:
    shutdown = Shutdown(deadline_s=float(sys.argv[2]) if len(sys.argv) > 2 else 10.0, late_slice_s=0.2)
    shutdown.install_signal_handlers(asyncio.get_running_loop())

    async def close_database() -> None:
        say("database closed")

    async def flush_outbox() -> None:
        say("outbox flushing")
        if mode == "hangs":
            await asyncio.Event().wait()
        elif mode == "blocks":
            time.sleep(60)  # noqa: ASYNC251 - on purpose: a stuck synchronous call blocks the loop
        await asyncio.sleep(0.05)
        say("outbox flushed")

    async def stop_feeds() -> None:
        say("feeds stopped")

    shutdown.register("database", close_database)
    shutdown.register("outbox", flush_outbox)
    shutdown.register("feeds", stop_feeds)
    say("ready")
    await shutdown.wait()
    say(f"stopping on {shutdown.reason}")
    report = await shutdown.run()
    say(f"timed out: {','.join(report.timed_out) or '-'}")
    return 0 if report.clean else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sys.exit(asyncio.run(main(sys.argv[1])))

"""Run the exchange emulator standalone: python -m tests.emulators.exchanges --port 8766 --shift-to-now.

With ``--write-config live.toml`` the bot's config is written too (from config.example.toml when the
file does not exist; only the feeds' URLs change in one that does), so nothing is pasted by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from pathlib import Path

from .server import ExchangeEmulator
from .tripwire_toml import tripwire_feeds_toml, write_config


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m tests.emulators.exchanges", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    shift = parser.add_mutually_exclusive_group()
    shift.add_argument(
        "--shift-to-now", action="store_true", help="shift every served time so the recording ends today"
    )
    shift.add_argument("--shift-to", type=int, metavar="EPOCH_MS", help="shift so the recording ends then")
    parser.add_argument(
        "--liq-rate",
        type=float,
        default=5.0,
        help="recorded liquidation frames per second per venue (0: off)",
    )
    parser.add_argument("--geo-block", action="store_true", help="answer every Binance request with 451")
    parser.add_argument(
        "--write-config",
        metavar="FILE",
        type=Path,
        help="point the feeds of this Tripwire config at the emulator (created from config.example.toml "
        "if missing; in an existing file only the feed URLs change)",
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Start the emulator, print where it listens and run until interrupted."""
    shift_to = "now" if args.shift_to_now else args.shift_to
    emu = ExchangeEmulator(
        host=args.host, port=args.port, shift_to=shift_to, liq_rate=args.liq_rate, geo_block=args.geo_block
    )
    await emu.start()
    print(f"exchange emulator on {emu.base_url} (websockets on {emu.ws_url})")
    print(f"fault control: {emu.base_url}/_control/state\n")
    if args.write_config is not None:
        created = write_config(args.write_config, emu.base_url, emu.ws_url)
        what = "wrote" if created else "pointed the feeds of"
        print(
            f"{what} {args.write_config} at the emulator: tripwire run --config {args.write_config}",
            flush=True,
        )
    else:
        print(tripwire_feeds_toml(emu.base_url, emu.ws_url), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emu.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()

"""Local emulators of the exchanges' public market-data APIs, for testing the bot's feeds offline.

One aiohttp server on 127.0.0.1 serves Binance spot and USD-M, Bybit v5, OKX v5, alternative.me,
Coinbase Exchange and Kraken on their real paths, from the real recorded data in tests/data, with
faults on demand. See README.md in this folder for the route table and the fault API.
"""

from .clock import Clock
from .context import EmulatorConfig
from .data import Dataset
from .faults import Fault, RequestRecord
from .server import ExchangeEmulator, free_port
from .ws import WsConn, WsPolicy

__all__ = [
    "Clock",
    "Dataset",
    "EmulatorConfig",
    "ExchangeEmulator",
    "Fault",
    "RequestRecord",
    "WsConn",
    "WsPolicy",
    "free_port",
]

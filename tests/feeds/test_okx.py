"""OKX: position side from posSide/side, USD from contract values, websocket and REST modes."""

from __future__ import annotations

from datetime import datetime

import pytest

from feeds.health import FeedState, HealthRegistry
from feeds.ingest import Ingest
from feeds.okx import Contract, OkxFeed, parse_instruments, parse_liquidation_items, position_side
from feeds.parse import BadItem
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FeedFactory, ManualClock
from tests.feeds.helpers import FIXTURES, csv_rows, live_frames, running, wait_for

OKX_CSV = FIXTURES / "okx_liquidation_orders_BTC_ETH_20261002_excerpt.csv"
# ctVal as given with the recorded excerpt (0.01 BTC, 0.1 ETH per contract) and by the emulator.
CONTRACTS = {
    "BTC-USDT-SWAP": Contract("BTC-USDT-SWAP", "BTC-USDT", 0.01, 1.0, inverse=False),
    "ETH-USDT-SWAP": Contract("ETH-USDT-SWAP", "ETH-USDT", 0.1, 1.0, inverse=False),
}


def _ts(row: dict[str, str]) -> int:
    return int(datetime.fromisoformat(row["datetime"] + "+00:00").timestamp() * 1000)


def _items_from_csv() -> list[dict[str, object]]:
    """Rebuild REST items from the collector's columns: posSide and sz kept, side derived from posSide."""
    items = []
    for row in csv_rows(OKX_CSV):
        side = "sell" if row["pos_side"] == "long" else "buy"
        detail = {"posSide": row["pos_side"], "side": side, "sz": row["size"], "bkPx": row["price"]}
        items.append({"instId": f"{row['uly']}-SWAP", "details": [detail | {"ts": str(_ts(row))}]})
    return items


# --- parsers ------------------------------------------------------------------------------------------------


def test_recorded_excerpt_pos_side_and_usd_with_contract_value() -> None:
    rows = csv_rows(OKX_CSV)
    parsed, unknown = parse_liquidation_items(_items_from_csv(), CONTRACTS, None)
    assert parsed.skipped == [] and unknown == set() and len(parsed.rows) == len(rows) == 215
    for raw, row in zip(rows, parsed.rows, strict=True):
        ct_val = 0.01 if raw["uly"] == "BTC-USDT" else 0.1
        assert row.side == raw["pos_side"]
        assert row.symbol == raw["uly"].replace("-", "")
        assert row.qty == pytest.approx(float(raw["size"]) * ct_val)
        assert row.usd == pytest.approx(float(raw["size"]) * ct_val * float(raw["price"]))
    assert {r.side for r in parsed.rows} == {"long", "short"}


def test_live_frame_buy_with_pos_side_short_is_a_short() -> None:
    (frame,) = [f for f in live_frames() if f.get("arg", {}).get("channel") == "liquidation-orders"]
    parsed, unknown = parse_liquidation_items(frame["data"], {}, None)
    assert parsed.rows == [] and unknown == {"CNPY-USDT-SWAP"}  # no ctVal known: skipped, not guessed
    assert parsed.skipped == ["no contract value known for CNPY-USDT-SWAP"]
    # SYNTHETIC contract value (1 CNPY per contract), only to see the row the live frame makes.
    cnpy = {"CNPY-USDT-SWAP": Contract("CNPY-USDT-SWAP", "CNPY-USDT", 1.0, 1.0, inverse=False)}
    (row,) = parse_liquidation_items(frame["data"], cnpy, None)[0].rows
    assert (row.symbol, row.side, row.ts, row.price, row.qty) == (
        "CNPYUSDT",
        "short",
        1789669898955,
        0.4162,
        2137,
    )


@pytest.mark.parametrize(
    ("detail", "side"),
    [
        ({"side": "sell", "posSide": "net"}, "long"),  # one-way mode: the order side decides
        ({"side": "buy", "posSide": "net"}, "short"),
        ({"side": "buy", "posSide": "long"}, "long"),  # hedge mode: posSide is the position
        ({"side": "SELL"}, "long"),
    ],
)
def test_position_side_rules(detail: dict[str, str], side: str) -> None:
    assert position_side(detail) == side


def test_position_side_refuses_an_unknown_side() -> None:
    with pytest.raises(BadItem):
        position_side({"side": "hold", "posSide": "net"})


def test_inverse_swap_usd_is_contracts_times_face_value() -> None:
    # SYNTHETIC inverse contract (BTC-USD-SWAP is 100 USD per contract on OKX) and detail.
    inverse = {"BTC-USD-SWAP": Contract("BTC-USD-SWAP", "BTC-USD", 100.0, 1.0, inverse=True)}
    item = {
        "instId": "BTC-USD-SWAP",
        "details": [{"side": "buy", "sz": "3", "bkPx": "50000", "ts": "1789669898955"}],
    }
    (row,) = parse_liquidation_items([item], inverse, None)[0].rows
    assert (row.symbol, row.side, row.usd, row.qty) == ("BTCUSD", "short", 300.0, pytest.approx(0.006))


async def test_instruments_from_the_emulator(emu: ExchangeEmulator, build: FeedFactory) -> None:
    feed: OkxFeed = build("okx")
    await feed.refresh_instruments_if_needed()
    assert feed.contracts == CONTRACTS
    parsed = parse_instruments({"code": "0", "msg": "", "data": [{"instId": "X-USDT-SWAP", "ctVal": "0"}]})
    assert parsed.rows == [] and "must be positive" in parsed.skipped[0]


# --- websocket mode -----------------------------------------------------------------------------------------


def _okx_rows(ingest: Ingest) -> list[tuple[str, int, str, float, float]]:
    cur = ingest.repo.conn.execute("SELECT symbol, ts, side, qty, usd FROM liquidations WHERE source = 'okx'")
    return sorted(cur.fetchall())


def _expected() -> list[tuple[str, int, str, float, float]]:
    out = []
    for raw in csv_rows(OKX_CSV):
        ct_val = 0.01 if raw["uly"] == "BTC-USDT" else 0.1
        qty = float(raw["size"]) * ct_val
        out.append((raw["uly"].replace("-", ""), _ts(raw), raw["pos_side"], qty, qty * float(raw["price"])))
    return sorted(out)


async def test_websocket_replay_of_the_recorded_excerpt_into_sqlite(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    feed: OkxFeed = build("okx")
    assert feed.stream is not None
    await feed.backfill()  # reads the contract values
    async with running(feed.stream):
        (conn,) = await emu.wait_ws("okx", subscribed="liquidation-orders:SWAP")
        emu.start_replay(400.0)
        await wait_for(lambda: len(_okx_rows(ingest)) == 215, what="215 OKX liquidations")
        await emu.stop_replay()
        await wait_for(lambda: "ping" in conn.received, within=2.0, what="a text ping after a quiet spell")
    stored = _okx_rows(ingest)
    for got, want in zip(stored, _expected(), strict=True):
        assert got[:3] == want[:3] and got[3:] == pytest.approx(want[3:])
    assert registry.get("okx.liquidations").state() is FeedState.OK


async def test_an_unknown_swap_triggers_a_reread_of_the_instruments(
    emu: ExchangeEmulator, build: FeedFactory, clock: object
) -> None:
    feed: OkxFeed = build("okx", symbols=["SOLUSDT"])
    await feed.backfill()
    assert len(emu.requests("/api/v5/public/instruments")) == 1
    item = {
        "instId": "SOL-USDT-SWAP",
        "details": [{"side": "sell", "sz": "1", "bkPx": "150", "ts": "1789669898955"}],
    }
    assert feed.parse([item]) == []
    clock.advance(61)  # type: ignore[attr-defined]
    await feed.refresh_instruments_if_needed()
    assert len(emu.requests("/api/v5/public/instruments")) == 2


# --- REST mode ----------------------------------------------------------------------------------------------


async def test_rest_mode_backfills_what_okx_keeps_then_polls_only_new_records(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    feed: OkxFeed = build("okx", okx={"mode": "rest"})
    assert feed.streams() == [] and [j.name for j in feed.jobs()] == ["okx.liquidations"]
    await feed.backfill()
    stored = _okx_rows(ingest)
    assert len(stored) == 215
    for got, want in zip(stored, _expected(), strict=True):
        assert got[:3] == want[:3] and got[3:] == pytest.approx(want[3:])
    pages = emu.requests("/api/v5/public/liquidation-orders")
    assert [(r.query["instFamily"], "after" in r.query) for r in pages] == [
        ("BTC-USDT", False),
        ("BTC-USDT", True),
        ("ETH-USDT", False),
        ("ETH-USDT", True),
    ]
    emu.log.clear()
    assert await feed.poller.run()  # nothing new: one page per family, nothing paged back
    assert len(emu.requests("/api/v5/public/liquidation-orders")) == 2
    assert len(_okx_rows(ingest)) == 215
    assert registry.get("okx.liquidations").state() is FeedState.OK


async def test_stream_runs_while_instruments_are_unreachable_and_catches_up(
    emu: ExchangeEmulator,
    build: FeedFactory,
    ingest: Ingest,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu.fail("/api/v5/public/instruments", 503, times=None)
    feed: OkxFeed = build("okx")
    assert feed.stream is not None and feed.instruments_poller is not None
    await feed.backfill()
    assert feed.contracts == {}
    frame = next(f for f in live_frames() if f.get("arg", {}).get("channel") == "liquidation-orders")
    # The captured frame, moved to BTC-USDT-SWAP (values as captured).
    frame["data"][0] |= {"instId": "BTC-USDT-SWAP", "instFamily": "BTC-USDT", "uly": "BTC-USDT"}
    async with running(feed.stream):
        await emu.wait_ws("okx", subscribed="liquidation-orders:SWAP")  # connected anyway
        assert await emu.push_ws("okx", frame) == 1
        await wait_for(lambda: "no contract value known for BTC-USDT-SWAP" in caplog.text, what="the skip")
        assert _okx_rows(ingest) == []  # no ctVal: skipped, not guessed
        emu.clear_faults()
        clock.advance(61)
        assert await feed.instruments_poller.run()  # the scheduled job
        assert await emu.push_ws("okx", frame) == 1
        await wait_for(lambda: len(_okx_rows(ingest)) == 1, what="the liquidation once ctVal is known")
    (row,) = _okx_rows(ingest)
    assert row[2] == "short" and row[3] == pytest.approx(2137 * 0.01)

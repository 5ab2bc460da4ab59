"""/positioning and /funding's weighted line, recomputed by hand from the rows stored in real SQLite.

The rows are SYNTHETIC (three venues with round figures), written so each number can be checked by hand:
open interest summed over venues in USD (one side), funding per 8 h at each venue's interval and weighted
by USD open interest, the newest long/short reading per venue, DVOL and its 24 h change.
"""

from __future__ import annotations

import pytest

from bot.config import Config, parse_config
from bot.digests.content import build_digest, funding_lists, positioning_line
from bot.digests.text import _positioning_line
from bot.discord.render.positioning import etf_text, positioning_embed
from bot.errors import UserError
from bot.services import Service
from detectors.positioning import EtfLine
from storage.repo import Repo
from storage.rows import DAY_MS, HOUR_MS, DepthBand, EtfFlow, Funding, ImpliedVol, LongShort, OpenInterest
from tests.bot.support import Clock, discord_engine

NOW = 1_768_392_000_000  # 2026-01-14 12:00 UTC
OI_USD = {"binance": 6e9, "bybit": 3e9, "hyperliquid": 1e9}
# (rate per interval, interval hours): Bybit settles every 8 h here, Hyperliquid every hour (documented).
RATES = {"binance": (0.0001, 8), "bybit": (0.0002, 8), "hyperliquid": (0.00005, 1)}


@pytest.fixture
def config() -> Config:
    return parse_config({"symbols": ["BTCUSDT", "ETHUSDT"]})


@pytest.fixture
def service(repo: Repo, config: Config) -> Service:
    repo.upsert_open_interest(
        [OpenInterest("BTCUSDT", NOW - HOUR_MS, v, usd / 95_000, usd) for v, usd in OI_USD.items()]
        + [OpenInterest("BTCUSDT", NOW - 2 * DAY_MS, "binance", None, 1e9)]  # older than a day: ignored
    )
    rows = []
    for venue, (rate, hours) in RATES.items():
        if venue != "hyperliquid":  # settlements every `hours` show the interval
            rows += [
                Funding("BTCUSDT", NOW - k * hours * HOUR_MS, venue, rate, settled=True) for k in range(1, 4)
            ]
        rows.append(Funding("BTCUSDT", NOW - 60_000, venue, rate, settled=False))
    repo.upsert_funding(rows)
    repo.upsert_long_short(
        [
            LongShort("BTCUSDT", NOW - 2 * 300_000, "binance", "top_positions", "5m", 2.0, 2 / 3),
            LongShort("BTCUSDT", NOW - 300_000, "binance", "top_positions", "5m", 2.4, 0.7059),
            LongShort("BTCUSDT", NOW - 300_000, "bybit", "accounts", "5m", 1.5, 0.6),
        ]
    )
    repo.upsert_implied_vol(
        [
            ImpliedVol("BTC", NOW - DAY_MS - HOUR_MS, "deribit", "1h", 50, 50, 50, 50.0),
            ImpliedVol("BTC", NOW - HOUR_MS, "deribit", "1h", 55, 56, 54, 55.0),
        ]
    )
    return Service(repo, discord_engine(repo), config, Clock(NOW))


def test_positioning_figures_recompute_from_the_stored_rows(service: Service) -> None:
    view = service.positioning("btc")
    market = view.market
    assert market.oi_usd == sum(OI_USD.values())
    per_8h = {v: rate * 8 / hours for v, (rate, hours) in RATES.items()}
    expected = sum(per_8h[v] * OI_USD[v] for v in OI_USD) / sum(OI_USD.values())
    assert market.weighted and market.rate_per_8h == pytest.approx(expected)
    assert market.annualized_pct == pytest.approx(expected * 3 * 365 * 100)
    assert [v.source for v in market.venues] == ["binance", "bybit", "hyperliquid"]  # largest OI first
    assert market.share("binance") == pytest.approx(0.6)
    hyper = market.venues[2]
    assert hyper.interval_h == 1.0 and hyper.annualized_pct == pytest.approx(0.00005 * 24 * 365 * 100)
    # The newest reading of each (kind, venue), in a fixed order.
    assert [(r.metric, r.source, r.ratio) for r in view.long_short] == [
        ("accounts", "bybit", 1.5),
        ("top_positions", "binance", 2.4),
    ]
    assert view.dvol is not None
    assert view.dvol.close == 55.0 and view.dvol.change_24h_pct == pytest.approx(10.0)


def test_funding_gains_the_open_interest_weighted_line(service: Service) -> None:
    view = service.funding("BTCUSDT")
    per_8h = {v: rate * 8 / hours for v, (rate, hours) in RATES.items()}
    expected = sum(per_8h[v] * OI_USD[v] for v in OI_USD) / sum(OI_USD.values())
    assert view.oi_weighted_per_8h == pytest.approx(expected) and view.oi_weighted_venues == 3
    assert {s.source: s.interval_h for s in view.by_source}["hyperliquid"] == 1.0


def test_no_data_is_a_user_error(service: Service) -> None:
    with pytest.raises(UserError, match="No positioning data for ETHUSDT yet"):
        service.positioning("ETHUSDT")


def test_depth_sums_each_venues_newest_snapshot_per_band(service: Service, repo: Repo) -> None:
    """SYNTHETIC bands: the older Binance snapshot is ignored; a band is complete only if all reached."""
    m = 1_000_000.0
    repo.upsert_depth(
        [
            DepthBand("BTCUSDT", NOW - 20 * 60_000, "binance", 100, 1 * m, 1 * m, True, True),  # too old
            DepthBand("BTCUSDT", NOW - 3 * 60_000, "binance", 100, 40 * m, 35 * m, True, True),
            DepthBand("BTCUSDT", NOW - 2 * 60_000, "bybit", 100, 12 * m, 11 * m, True, False),
        ]
    )
    view = service.depth("btc")
    assert [(v.source, v.at) for v in view.venues] == [
        ("binance", NOW - 3 * 60_000),
        ("bybit", NOW - 2 * 60_000),
    ]
    (band,) = view.total
    assert (band.band_bp, band.bid_usd, band.ask_usd, band.complete) == (100, 52 * m, 46 * m, False)


def etf_days(asset: str = "BTC") -> list[EtfFlow]:
    """SYNTHETIC days: Friday 9th, Monday 12th and Tuesday 13th in, Wednesday 14th not known at NOW."""
    read = NOW - HOUR_MS
    return [
        EtfFlow(asset, date, ts, "sosovalue", net, None, None, None, read)
        for date, ts, net in (
            ("2026-01-08", 1_767_830_400_000, -20e6),
            ("2026-01-09", 1_767_916_800_000, 50e6),
            ("2026-01-12", 1_768_176_000_000, 100e6),
            ("2026-01-13", 1_768_262_400_000, 646e6),
            ("2026-01-14", 1_768_348_800_000, 1e9),  # its day has not ended at NOW: not known yet
        )
    ]


def test_positioning_shows_the_last_etf_day_known_with_its_source(service: Service, repo: Repo) -> None:
    repo.upsert_etf_flows(etf_days())
    etf = service.positioning("BTCUSDT").etf
    assert etf == EtfLine("BTC", "2026-01-13", 646e6, "sosovalue", NOW - HOUR_MS, 3)
    assert etf_text(etf).startswith(
        "+$646.0M net on 2026-01-13, third inflow day in a row · sosovalue, read <t:"
    )
    # ETH shows its own flows (and answers with nothing else stored); other coins have no US spot ETFs here.
    repo.upsert_etf_flows(etf_days("ETH")[:2])
    eth = service.positioning("ETHUSDT")
    assert eth.etf is not None and (eth.etf.asset, eth.etf.net_usd, eth.etf.days_in_a_row) == ("ETH", 50e6, 1)


def test_the_digest_positioning_line_gains_the_etf_day(repo: Repo, service: Service) -> None:
    repo.upsert_etf_flows(etf_days())
    line = positioning_line(repo, "BTCUSDT", NOW)
    assert line is not None and line.etf is not None and line.etf.date == "2026-01-13"
    assert _positioning_line(line).endswith("· spot ETFs +$646.0M on 2026-01-13 (sosovalue)")
    # A day older than ten days is not "the last flow" any more.
    assert positioning_line(repo, "BTCUSDT", NOW + 11 * DAY_MS) is None


def test_a_venue_whose_open_interest_stopped_is_left_out_and_named(service: Service, repo: Repo) -> None:
    # Gate's last open interest 20 h ago: within the day, but not the market now.
    repo.upsert_open_interest([OpenInterest("BTCUSDT", NOW - 20 * HOUR_MS, "gate", None, 5e9)])
    view = service.positioning("btc")
    assert view.market.oi_usd == sum(OI_USD.values()) and view.without == ("gate",)
    line = positioning_line(repo, "BTCUSDT", NOW)
    assert line is not None
    # The digest sums the same venues as /positioning and says which one is missing.
    assert (line.oi_usd, line.venues, line.without) == (view.market.oi_usd, 3, ("gate",))
    assert "over 3 venues (without gate)" in _positioning_line(line)
    footer = positioning_embed(view).footer.text or ""
    assert footer.endswith("without gate (its open interest stopped)")


def test_the_digest_reads_gates_funding_interval_from_its_list_as_positioning_does(
    service: Service, repo: Repo
) -> None:
    from feeds.instrument_fetch import to_row
    from feeds.instruments import Instrument, InstrumentRegistry

    # SYNTHETIC: Gate's running rate, no settlements; its contract list says it settles every 4 hours.
    repo.upsert_funding([Funding("BTCUSDT", NOW - 60_000, "gate", 0.0001, settled=False)])
    repo.upsert_open_interest([OpenInterest("BTCUSDT", NOW - HOUR_MS, "gate", None, 2e9)])
    contract = Instrument("gate", "perp", "BTC_USDT", "BTC", "USDT", funding_interval_h=4.0)
    repo.save_instruments("gate", [to_row(contract, NOW - DAY_MS)])
    registry = InstrumentRegistry()
    registry.replace("gate", [contract], NOW - DAY_MS)
    service.instruments = registry
    view = service.positioning("btc")
    gate = next(v for v in view.market.venues if v.source == "gate")
    assert gate.interval_h == 4.0 and gate.rate_per_8h == pytest.approx(0.0002)
    line = positioning_line(repo, "BTCUSDT", NOW, funding_lists(repo))
    assert line is not None and line.funding_per_8h == pytest.approx(view.market.rate_per_8h)
    (built,) = build_digest(repo, ["BTCUSDT"], NOW, DAY_MS, ("positioning",)).positioning
    assert built.funding_per_8h == pytest.approx(view.market.rate_per_8h)  # the digest reads the lists
    unlisted = positioning_line(repo, "BTCUSDT", NOW)  # no list: Gate read per 8 h, a different figure
    assert unlisted is not None and unlisted.funding_per_8h != pytest.approx(view.market.rate_per_8h)

"""Digests built from the bundled real data as of a moment, queued once per slot (late once after a gap),
and the /digest service's set/list/remove/now."""

from __future__ import annotations

import csv
from collections.abc import Iterator

import pytest

from bot.digests.content import SECTIONS, build_digest, from_payload, to_payload
from bot.digests.posting import post_due
from bot.digests.service import DigestService
from bot.digests.text import digest_text
from bot.errors import UserError
from detectors.base import format_usd
from feeds.replay import parse_time as at
from storage.repo import Repo
from storage.rows import Liquidation
from tests.bot.scenario import seed
from tests.bot.support import Clock, record_firing
from tests.conftest import DATA

GUILD = 1001
ADMIN = 2001
CHANNEL = 3001
OTHER_CHANNEL = 3002
DAY = 86_400_000
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
LATE_AFTER = 300_000


class Jobs:
    """Records which digests the service asked the scheduler to rebuild."""

    def __init__(self) -> None:
        self.refreshed: list[int] = []

    def refresh(self, digest_id: int) -> None:
        self.refreshed.append(digest_id)


@pytest.fixture(scope="module")
def seeded() -> Iterator[Repo]:
    """Yield a database holding the whole bundled scenario (later rows included: reads must skip them)."""
    from storage.db import open_database

    db = open_database(":memory:")
    repo = Repo(db)
    seed(repo)
    yield repo
    db.conn.close()


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_digest_of_2026_01_14_states_the_recorded_figures(seeded: Repo) -> None:
    digest = build_digest(seeded, SYMBOLS, at("2026-01-15T00:00Z"), DAY, SECTIONS)

    candles = {r["timestamp"][:16]: r for r in _rows("binance_spot_BTCUSDT_1h_2026-01-01_2026-01-20.csv")}
    close = float(candles["2026-01-14 23:00"]["close"])
    before = float(candles["2026-01-13 23:00"]["close"])
    btc = digest.prices[0]
    assert (btc.symbol, btc.close) == ("BTCUSDT", close) and close == 96951.78
    assert (
        btc.change_pct == pytest.approx((close - before) / before * 100) and round(btc.change_pct, 1) == 1.6
    )
    assert btc.high == 97924.49  # the top of the second leg, in the 20:00 hour

    day = [
        r
        for r in _rows("coinglass_btc_liquidations_1h_2025-11-23_2026-01-20.csv")
        if "2026-01-14T" in r["datetime_utc"]
    ]
    assert len(day) == 24
    liq = digest.liquidations
    assert liq is not None
    assert liq.short_usd == pytest.approx(sum(float(r["shortUsd"]) for r in day))
    assert liq.long_usd == pytest.approx(sum(float(r["longUsd"]) for r in day))
    biggest = max(day, key=lambda r: float(r["shortUsd"]))
    assert liq.largest[0].usd == pytest.approx(float(biggest["shortUsd"])) and liq.largest[0].side == "short"

    fng = {r["date"]: r for r in _rows("alternative_me_fear_greed_2025-12-01_2026-01-20.csv")}
    assert digest.fear_greed is not None
    assert (
        (digest.fear_greed.previous, digest.fear_greed.value)
        == (
            int(fng["2026-01-14"]["value"]),
            int(fng["2026-01-15"]["value"]),
        )
        == (48, 61)
    )
    assert digest.fear_greed.classification == "Greed"

    [derivatives] = digest.derivatives  # ETH has no funding or open-interest data
    assert derivatives.symbol == "BTCUSDT" and derivatives.open_interest_change_pct is not None

    # Positioning: the bundled open interest is CoinGlass's alone, so the sum is its newest figure and the
    # funding weighted by it is CoinGlass's newest rate (Binance's settlements have no open interest here).
    [positioning] = digest.positioning  # ETH has none either
    moment = at("2026-01-15T00:00Z")
    newest_oi = seeded.open_interest("BTCUSDT", moment - DAY, moment + 1)[-1]
    newest_rate = [f for f in seeded.funding("BTCUSDT", moment - DAY, moment + 1) if f.source == "coinglass"][
        -1
    ]
    assert (positioning.oi_usd, positioning.venues) == (newest_oi.usd, 1)
    assert positioning.weighted and positioning.funding_per_8h == pytest.approx(newest_rate.rate)
    assert positioning.long_short is None and positioning.dvol is None  # nothing bundled for those

    text = digest_text(digest)
    assert "Positioning across venues" in text
    assert f"BTC open interest {format_usd(newest_oi.usd or 0)} over 1 venue · funding " in text
    assert "Market digest: 24h to 2026-01-15 00:00 UTC" in text
    assert "BTC $96,951.78 ▲ +1.6%" in text
    assert f"Shorts {format_usd(liq.short_usd)} · longs {format_usd(liq.long_usd)}" in text
    assert "Shorts $57.8M · longs $12.1M" in text and "(shorts 83%)" in text
    assert "48 → 61 Greed (+13 since the day before)" in text
    assert from_payload(to_payload(digest)) == digest


def test_a_digest_reads_only_what_was_known_at_its_time(seeded: Repo) -> None:
    # At 14:30 the 14:00 candle and hour of liquidations had not ended: the digest stops at 14:00.
    digest = build_digest(
        seeded, ["BTCUSDT"], at("2026-01-14T14:30Z"), 6 * 3_600_000, ("prices", "liquidations")
    )
    [btc] = digest.prices
    assert btc.closed_at == at("2026-01-14T14:00Z") and btc.close == 94998.19
    assert digest.liquidations is not None and digest.liquidations.largest[0].usd < 24_000_000


def test_a_digest_counts_the_hour_still_running(repo: Repo) -> None:
    # Synthetic rows (issue 22): /digest now at 08:52 said "No liquidations recorded" next to a $20M
    # liquidation alert of 08:40, because only whole hours were counted.
    repo.insert_liquidations(
        [
            Liquidation("BTCUSDT", at("2026-01-14T08:40Z"), "binance", "short", 95e3, 210.0, 19_950_000.0),
            Liquidation("BTCUSDT", at("2026-01-14T07:10Z"), "okx", "long", 94_000.0, 10.0, 940_000.0),
        ]
    )
    # An hourly total of a source publishing per hour: the 07:00 hour had ended by 08:52, the 08:00 one
    # had not (its bucket is known only at 09:00), so only the first counts.
    repo.upsert_liquidation_buckets(
        [
            Liquidation("BTCUSDT", at("2026-01-14T07:00Z"), "coinglass", "short", 0.0, 0.0, 3_000_000.0),
            Liquidation("BTCUSDT", at("2026-01-14T08:00Z"), "coinglass", "short", 0.0, 0.0, 5_000_000.0),
        ]
    )
    digest = build_digest(repo, SYMBOLS, at("2026-01-14T08:52Z"), DAY, ("liquidations",))
    liq = digest.liquidations
    assert liq is not None
    assert (liq.short_usd, liq.long_usd) == (19_950_000.0 + 3_000_000.0, 940_000.0)
    assert liq.largest[0].usd == 19_950_000.0 and liq.largest[0].ts == at("2026-01-14T08:40Z")
    text = digest_text(digest)
    assert "No liquidations recorded" not in text
    assert f"Shorts {format_usd(22_950_000.0)} · longs {format_usd(940_000.0)}" in text
    # A digest of the hour before the liquidation (at 08:39) does not count it: nothing after `at`.
    earlier = build_digest(repo, SYMBOLS, at("2026-01-14T08:39Z"), DAY, ("liquidations",))
    assert earlier.liquidations is not None and earlier.liquidations.short_usd == 3_000_000.0


def _service(repo: Repo, clock: Clock, jobs: Jobs | None = None, *, limit: int = 3) -> DigestService:
    return DigestService(repo, SYMBOLS, clock, max_per_guild=limit, jobs=jobs)


def test_set_list_remove_and_the_quota(repo: Repo) -> None:
    clock, jobs = Clock(at("2026-01-14T10:00Z")), Jobs()
    service = _service(repo, clock, jobs, limit=1)
    view = service.set_digest(GUILD, ADMIN, CHANNEL, "08:00", "weekdays", "prices, chart")
    assert view.schedule == "daily at 08:00 UTC, Mon–Fri" and view.contents == ("prices", "chart")
    assert view.next_at == at("2026-01-15T08:00Z") and jobs.refreshed == [view.id]
    # Setting the same channel again replaces its digest; another channel is over the quota.
    again = service.set_digest(GUILD, ADMIN, CHANNEL, "every 6h")
    assert again.id == view.id and again.schedule == "every 6h from 00:00 UTC"
    with pytest.raises(UserError, match=r"already has 1 digests, the most allowed \(1\)"):
        service.set_digest(GUILD, ADMIN, OTHER_CHANNEL, "09:00")
    assert [v.id for v in service.list_digests(GUILD)] == [view.id] and service.list_digests(GUILD + 1) == []
    assert service.choices(GUILD, "6h") == [
        (view.id, f"#{view.id} · every 6h from 00:00 UTC · " + ", ".join(again.contents))
    ]
    with pytest.raises(UserError, match="There is no digest #99"):
        service.remove_digest(GUILD, 99)
    with pytest.raises(UserError, match=f"There is no digest #{view.id}"):
        service.remove_digest(GUILD + 1, view.id)
    service.remove_digest(GUILD, view.id)
    assert repo.digests() == [] and jobs.refreshed[-1] == view.id


def test_a_slot_is_queued_once_and_after_a_gap_only_the_latest_once_marked_late(repo: Repo) -> None:
    clock = Clock(at("2026-01-13T12:00Z"))
    service = _service(repo, clock)
    digest_id = service.set_digest(GUILD, ADMIN, CHANNEL, "00:00").id
    assert post_due(repo, SYMBOLS, digest_id, clock.now, LATE_AFTER) is None  # nothing due before the slot

    on_time = post_due(repo, SYMBOLS, digest_id, at("2026-01-14T00:00:02Z"), LATE_AFTER)
    assert on_time is not None
    assert post_due(repo, SYMBOLS, digest_id, at("2026-01-14T00:01Z"), LATE_AFTER) is None  # already queued
    # Down from just after that until 05:00 three days later: three slots passed, one post is owed.
    back = at("2026-01-17T05:00Z")
    late = post_due(repo, SYMBOLS, digest_id, back, LATE_AFTER)
    assert late is not None and post_due(repo, SYMBOLS, digest_id, back + 1000, LATE_AFTER) is None

    rows = [repo.outbox_row(i) for i in (on_time, late)]
    assert all(r is not None and r.kind == "digest" and r.target == f"channel:{CHANNEL}" for r in rows)
    first, second = (from_payload(r.payload) for r in rows if r is not None)
    assert first.at == at("2026-01-14T00:00Z") and first.late_by_s is None
    assert second.at == at("2026-01-17T00:00Z") and second.late_by_s == 5 * 3600
    assert "⏱ Posted late" in digest_text(second) and repo.outbox_depth() == 2


def test_post_now_queues_the_period_up_to_now_without_moving_the_schedule(repo: Repo) -> None:
    clock = Clock(at("2026-01-14T10:00Z"))
    woken: list[bool] = []
    service = DigestService(repo, SYMBOLS, clock, max_per_guild=3, on_queued=lambda: woken.append(True))
    digest_id = service.set_digest(GUILD, ADMIN, CHANNEL, "08:00").id
    service.post_now(GUILD, digest_id)
    [row] = repo.due_outbox("discord", clock.now)
    digest = from_payload(row.payload)
    assert digest.at == clock.now and digest.on_request and woken == [True]
    assert row.payload["guild_id"] == GUILD and row.payload["digest_id"] == digest_id
    stored = repo.digest(digest_id)
    assert stored is not None and stored.last_slot_at == clock.now  # unchanged since set


def test_a_digest_leaves_out_personal_alerts(repo: Repo) -> None:
    moment = at("2026-01-14T10:00Z")
    with repo.transaction():
        for rule_id, guild, deliver in (
            ("server", GUILD, "channel"),
            ("config", None, "channel"),
            ("mine", GUILD, "dm"),
        ):
            record_firing(
                repo, rule_id, f"alert of {rule_id}", moment, guild_id=guild, rule={"deliver": deliver}
            )
    digest = build_digest(repo, SYMBOLS, moment + 1, DAY, ("alerts",), guild_id=GUILD)
    assert sorted(a.rule_id for a in digest.alerts) == ["config", "server"] and digest.alerts_total == 2

"""The grouping planner on a real database: which message each due row goes into, and the invariants
exactly-once delivery rests on, checked on arbitrary bursts."""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.notify.grouping import GroupingPolicy, GroupPlanner, Message, Plan, group_key
from storage.db import open_database
from storage.repo import OutboxRow, Repo

T0 = 1_768_345_200_000
TARGET = "channel:1"
ROLE = 77
GUILD = 5


def alert(repo: Repo, title: str, at: int, *, role: int | None = None, **payload: Any) -> OutboxRow:
    """Queue an alert row for the target and return it."""
    with repo.transaction():
        event = repo.insert_event(
            dedupe_key=f"{title}:{at}",
            rule_id="r",
            detector="level_cross",
            symbol=payload.get("symbol", "BTCUSDT"),
            guild_id=GUILD,
            state="firing",
            kind="k",
            severity="info",
            title=title,
            values={},
            rule={},
            at=at,
            recorded_at=at,
        )
        body = {
            "title": title,
            "rule_id": "r",
            "symbol": "BTCUSDT",
            "guild_id": GUILD,
            "role_id": role,
            **payload,
        }
        row_id = repo.enqueue(
            event_id=event, sink="discord", target=TARGET, kind="alert", payload=body, now=at
        )
    row = repo.outbox_row(row_id)
    assert row is not None
    return row


def send(repo: Repo, message: Message, remote_id: str = "m1") -> int:
    """Store a planned message as the sink would once Discord confirmed it; return its group id."""
    with repo.transaction():
        group_id = repo.create_message_group(
            sink="discord",
            target=TARGET,
            kind=message.kind,
            group_key=message.key,
            window_ends_at=message.window_ends_at,
            now=message.created_at,
        )
        repo.assign_to_group([r.id for r in message.initial], group_id)
        repo.set_group_message(group_id, remote_id)
        for row in message.initial:
            repo.mark_delivered(row.id, message.created_at, remote_id)
    return group_id


def titles(message: Message) -> tuple[list[str], list[str]]:
    """Return the titles of a message's first-send rows and of the rows it adds by an edit."""
    return [r.payload["title"] for r in message.initial], [r.payload["title"] for r in message.added]


def test_alerts_within_the_window_share_one_message_and_later_ones_edit_it(repo: Repo) -> None:
    planner = GroupPlanner(repo, "discord", GroupingPolicy(window_ms=20_000))
    first = [alert(repo, "a", T0), alert(repo, "b", T0 + 5_000)]
    [message] = planner.plan(TARGET, first, T0 + 5_000).messages
    assert message.group is None and titles(message) == (["a", "b"], [])
    send(repo, message)
    late = [alert(repo, "c", T0 + 19_999), alert(repo, "d", T0 + 20_000)]
    joined, fresh = planner.plan(TARGET, late, T0 + 20_000).messages
    assert joined.sent and titles(joined) == ([], ["c"])  # queued within the window: an edit
    assert fresh.group is None and titles(fresh) == (["d"], [])  # the window is over: a new message


def test_group_by_keeps_symbols_apart(repo: Repo) -> None:
    planner = GroupPlanner(repo, "discord", GroupingPolicy(group_by=("symbol",)))
    rows = [alert(repo, "btc", T0), alert(repo, "eth", T0, symbol="ETHUSDT"), alert(repo, "btc2", T0)]
    plan = planner.plan(TARGET, rows, T0)
    assert [titles(m)[0] for m in plan.messages] == [["btc", "btc2"], ["eth"]]
    assert group_key(rows[1], ("symbol", "severity")) == "symbol=ETHUSDT|severity="


def test_a_message_whose_first_send_is_unconfirmed_keeps_its_rows_and_takes_none(repo: Repo) -> None:
    planner = GroupPlanner(repo, "discord", GroupingPolicy())
    [message] = planner.plan(TARGET, [alert(repo, "a", T0)], T0).messages
    with repo.transaction():  # the sink recorded the group, then the process died before Discord answered
        group_id = repo.create_message_group(
            sink="discord", target=TARGET, kind="alerts", group_key="", window_ends_at=T0 + 20_000, now=T0
        )
        repo.assign_to_group([message.initial[0].id], group_id)
    again = repo.outbox_row(message.initial[0].id)
    assert again is not None
    newer = alert(repo, "b", T0 + 1_000)
    [resend] = planner.plan(TARGET, [again, newer], T0 + 2_000).messages
    # The same rows go out again under the group's nonce; the newer one is added by an edit afterwards.
    assert resend.group is not None and not resend.sent
    assert titles(resend) == (["a"], ["b"])


def test_a_pinging_alert_opens_a_message_of_its_own_after_the_first_send(repo: Repo) -> None:
    planner = GroupPlanner(repo, "discord", GroupingPolicy())
    [first] = planner.plan(
        TARGET, [alert(repo, "quiet", T0), alert(repo, "loud", T0, role=ROLE)], T0
    ).messages
    assert titles(first) == (["quiet", "loud"], []) and first.roles == {ROLE}  # both in the first send
    send(repo, first)
    later = [alert(repo, "loud again", T0 + 1, role=ROLE), alert(repo, "other role", T0 + 2, role=ROLE + 1)]
    joined, alone = planner.plan(TARGET, later, T0 + 2).messages
    assert titles(joined) == ([], ["loud again"]) and titles(alone) == (["other role"], [])


def test_the_cap_sends_the_rest_into_one_summary_for_the_minute(repo: Repo) -> None:
    planner = GroupPlanner(repo, "discord", GroupingPolicy(window_ms=0, max_per_minute=3))
    plan = planner.plan(TARGET, [alert(repo, f"a{n}", T0) for n in range(6)], T0)
    assert [(m.kind, titles(m)[0]) for m in plan.messages] == [
        ("alerts", ["a0"]),
        ("alerts", ["a1"]),
        ("summary", ["a2", "a3", "a4", "a5"]),
    ]
    for number, message in enumerate(plan.messages):
        send(repo, message, f"m{number}")
    [summary] = planner.plan(TARGET, [alert(repo, "b", T0 + 30_000)], T0 + 30_000).messages
    assert summary.kind == "summary" and titles(summary) == ([], ["b"])
    [fresh] = planner.plan(TARGET, [alert(repo, "c", T0 + 61_000)], T0 + 61_000).messages
    assert fresh.kind == "alerts" and titles(fresh) == (["c"], [])


def test_a_fold_waits_for_its_alert_and_then_goes_into_its_message(repo: Repo) -> None:
    planner = GroupPlanner(repo, "discord", GroupingPolicy(window_ms=0))
    parent = alert(repo, "cascade", T0)
    with repo.transaction():
        fold_id = repo.enqueue(
            event_id=None,
            sink="discord",
            target=TARGET,
            kind="fold",
            payload={"title": "round level", "parent_event_id": parent.event_id, "rule_id": "x"},
            now=T0 + 60_000,
        )
    fold = repo.outbox_row(fold_id)
    assert fold is not None
    waiting = planner.plan(TARGET, [fold], T0 + 60_000)  # the cascade is queued but not due
    assert waiting.messages == [] and [w.row.id for w in waiting.waiting] == [fold_id]
    [together] = planner.plan(TARGET, [parent, fold], T0 + 60_000).messages
    assert titles(together) == (["cascade", "round level"], [])  # one first send, folded line included
    send(repo, together)
    [edit] = planner.plan(TARGET, [alert(repo, "lesser", T0 + 60_001)], T0 + 60_001).messages
    assert edit.group is None  # window 0: an ordinary alert is not added to the cascade's message


def check(plan: Plan, rows: list[OutboxRow], policy: GroupingPolicy, now: int) -> None:
    """Check the invariants the sink's exactly-once delivery relies on."""
    placed = [r.id for m in plan.messages for r in (*m.initial, *m.added)]
    waiting = [w.row.id for w in plan.waiting]
    assert sorted(placed + waiting) == sorted(r.id for r in rows), "each row placed exactly once"
    new = [m for m in plan.messages if m.group is None]
    for message in plan.messages:
        assert message.initial or message.added or message.refresh
        if message.group is not None and message.group.remote_id is not None:
            assert not message.initial, "a confirmed message's rows change only by an edit"
        if message.group is not None:
            for row in message.added:
                role = row.payload.get("role_id")
                assert message.kind == "summary" or role is None or role in message.roles, "edits never ping"
    for message in new:
        if message.kind == "alerts":
            first = min(r.created_at for r in message.initial)
            assert all(
                r.created_at < first + policy.window_ms or policy.window_ms == 0 for r in message.initial
            )
            assert message.roles == {r.payload["role_id"] for r in message.initial if r.payload["role_id"]}
        if message.kind == "summary":
            assert message.roles == set(), "a summary pings nobody"
    ordinary = [m for m in new if m.kind == "alerts"]
    assert len(ordinary) <= max(0, policy.max_per_minute - 1), "the cap holds"
    assert sum(1 for m in new if m.kind == "summary") <= 1


@settings(max_examples=60, deadline=None)
@given(
    window_s=st.sampled_from([0, 5, 20, 120]),
    cap=st.integers(1, 6),
    burst=st.lists(
        st.tuples(st.integers(0, 90), st.sampled_from([None, ROLE, ROLE + 1])), min_size=1, max_size=30
    ),
    sent_first=st.integers(0, 30),
)
def test_any_burst_is_planned_within_the_rules(
    window_s: int, cap: int, burst: list[tuple[int, int | None]], sent_first: int
) -> None:
    repo = Repo(open_database(":memory:"))
    policy = GroupingPolicy(window_ms=window_s * 1000, max_per_minute=cap)
    planner = GroupPlanner(repo, "discord", policy)
    rows = [
        alert(repo, f"a{n}", T0 + s * 1000, role=role)
        for n, (s, role) in enumerate(sorted(burst, key=lambda b: b[0]))
    ]
    # A first pass delivered some of them already (all its messages confirmed).
    head, tail = rows[:sent_first], rows[sent_first:]
    now = T0 + (max(s for s, _ in burst)) * 1000
    if head:
        first = planner.plan(TARGET, head, now)
        check(first, head, policy, now)
        for number, message in enumerate(first.messages):
            send(repo, message, f"m{number}")
    if tail:
        tail = [r for r in (repo.outbox_row(row.id) for row in tail) if r is not None]
        second = planner.plan(TARGET, tail, now)
        check(second, tail, policy, now)
        stored = len(repo.recent_message_groups("discord", TARGET, now - 60_000))
        ordinary_new = sum(1 for m in second.messages if m.group is None and m.kind == "alerts")
        assert stored + ordinary_new <= max(cap, stored), "no new ordinary message once the minute is capped"
    repo.close()


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@settings(max_examples=80, deadline=None)
@given(
    kind=st.sampled_from(["alerts", "summary", "ops"]),
    titles=st.lists(TEXT, min_size=1, max_size=40),
    folds=st.integers(0, 30),
    ended=st.booleans(),
)
def test_any_grouped_message_renders_within_discords_limits(
    kind: str, titles: list[str], folds: int, ended: bool
) -> None:
    from bot.notify.discord.render import base as render
    from bot.notify.discord.render.groups import lines_of, message_embed

    rows: list[OutboxRow] = []
    for n, title in enumerate(titles):
        payload = {"title": title, "text": title, "at": T0 + n, "rule_id": f"r{n}", "symbol": "BTCUSDT"}
        rows.append(
            OutboxRow(
                n + 1, n + 1, "discord", TARGET, "alert", payload, "pending", 0, T0, T0, None, None, None
            )
        )
    for n in range(folds):
        payload = {
            "title": f"fold {n} " + titles[0],
            "parent_event_id": 1,
            "event_id": 1000 + n,
            "rule_id": "f",
        }
        rows.append(
            OutboxRow(
                1000 + n, 1000 + n, "discord", TARGET, "fold", payload, "pending", 0, T0, T0, None, None, None
            )
        )
    assume(not any("ended" in t for t in titles))
    end = {"fired_event_id": 1, "values": {"duration_s": 3600}, "at": T0 + 3_600_000}
    resolves = [
        OutboxRow(5000, 5000, "discord", TARGET, "resolve", end, "pending", 0, T0, T0, None, None, None)
    ]

    embed = message_embed(kind, lines_of(rows, resolves if ended else []), lambda _s, _p: "binance", cap=10)

    assert len(embed) <= render.TOTAL_LIMIT and len(embed.description or "") <= render.DESCRIPTION_LIMIT
    assert len(embed.title or "") <= render.TITLE_LIMIT and len(embed.fields) <= render.FIELD_LIMIT
    if kind == "alerts" and len(titles) > 1:
        assert embed.title == f"{len(titles)} alerts: BTC"
        # The first line (the alert that ended) is always shown whole, so its end is always told.
        assert ("ended after 1h" in (embed.description or "")) == ended

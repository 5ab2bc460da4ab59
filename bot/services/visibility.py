"""Who may see an alert event: the one rule behind /history, /why, /chart, /status and their autocompletes.

An alert is seen where it was delivered, by whoever may read that place:

- a personal alert (a rule delivered by direct message) is its owner's alone, in the server it was set up
  in and in DMs; the rule's copy stored with the event says so, so removing the rule changes nothing;
- any other alert belongs to the server whose channel it was posted in (its outbox rows keep the target and
  the server), and a member sees it only when they may read (View Channel) one of those channels; Discord's
  permission data is read by the front end, which passes the readable channel ids in (no ``import discord``);
- an alert that was never posted (silenced), and whose rule no longer says where it would go, is known to
  be the server's but not which channel's: only the server's managers see it;
- outside a server (a DM) only the member's own personal alerts are shown.

A public reply shows an alert only when everyone who reads the channel it is posted in could see it: the
alert was posted in that very channel or in one every member may read. Anything else is answered privately.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.alerts.model import Router
from detectors.base import SEVERITIES
from storage.repo import AlertEventRow, EventScope, Repo, RuleRow

# (target address, server id) of one delivery, as the outbox stores it: "channel:<id>" or "user:<id>".
Delivery = tuple[str, int | None]


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking, where, and which of the server's channels they may read."""

    user_id: int
    # None: a direct message with the bot.
    guild_id: int | None
    # The server's channels the bot knows, and those the member may read (View Channel). ``readable`` None
    # means "every one of them": callers with no Discord in between (the service's own tests, the CLI).
    channels: frozenset[int] = frozenset()
    readable: frozenset[int] | None = None
    # Manage Server (or Administrator): sees the server's alerts that were never posted anywhere.
    is_admin: bool = False
    # The channel the command was used in, and the server's channels every member may read (@everyone):
    # what a public reply may show. None: answers are not posted publicly (a DM, a service caller).
    here: int | None = None
    open_channels: frozenset[int] = frozenset()


def _channel(address: str) -> int | None:
    kind, _, ident = address.partition(":")
    return int(ident) if kind == "channel" and ident.isdigit() else None


def personal_owner(event: AlertEventRow, deliveries: Iterable[Delivery]) -> int | None:
    """Return the member a personal (direct-message) alert belongs to, or None for a channel alert."""
    stored = event.rule
    if stored.get("deliver") == "dm":
        owner = stored.get("owner_id")
        return owner if isinstance(owner, int) else -1  # personal, owner unknown: nobody's to show
    for address, _ in deliveries:
        kind, _, ident = address.partition(":")
        if kind == "user" and ident.isdigit():
            return int(ident)
    return None


def posted_channels(viewer: Viewer, deliveries: Iterable[Delivery]) -> set[int]:
    """Return the channels of the viewer's server the alert was posted (or queued) in."""
    found: set[int] = set()
    for address, guild_id in deliveries:
        channel = _channel(address)
        if channel is None or viewer.guild_id is None:
            continue
        # A channel the bot sees in this server, or a delivery recorded for this server (a config route to a
        # channel the bot's cache does not hold).
        if channel in viewer.channels or guild_id == viewer.guild_id:
            found.add(channel)
    return found


def may_see(viewer: Viewer, event: AlertEventRow, deliveries: Sequence[Delivery]) -> bool:
    """Return whether ``viewer`` may see ``event``, given where it was delivered (or would be)."""
    return _may_see(viewer, personal_owner(event, deliveries), event.guild_id, deliveries)


def may_see_rule(viewer: Viewer, rule: RuleRow, deliveries: Sequence[Delivery]) -> bool:
    """Return whether ``viewer`` may see a rule (and pick it in an autocomplete), given where it posts."""
    owner = (rule.owner_id if rule.owner_id is not None else -1) if rule.deliver == "dm" else None
    return _may_see(viewer, owner, rule.guild_id, deliveries)


def _may_see(viewer: Viewer, owner: int | None, guild_id: int | None, deliveries: Sequence[Delivery]) -> bool:
    if owner is not None:
        # A member's own alert, in the server it belongs to or in their DMs; never anyone else's.
        in_place = viewer.guild_id is None or guild_id in (None, viewer.guild_id)
        return owner == viewer.user_id and in_place
    if viewer.guild_id is None:
        return False  # a DM shows no server's channel alerts
    posted = posted_channels(viewer, deliveries)
    if posted:
        return viewer.readable is None or bool(posted & viewer.readable)
    if guild_id != viewer.guild_id:
        return False  # a config rule's alert posted only in other servers
    # The server's own alert, never posted (silenced) and its channel unknown.
    return viewer.is_admin or viewer.readable is None


def may_show_publicly(viewer: Viewer, event: AlertEventRow, deliveries: Sequence[Delivery]) -> bool:
    """Return whether a public reply in ``viewer.here`` may show ``event`` to everyone reading there."""
    return _public(viewer, personal_owner(event, deliveries) is not None, deliveries)


def rule_shows_publicly(viewer: Viewer, rule: RuleRow, deliveries: Sequence[Delivery]) -> bool:
    """Return whether a public reply in ``viewer.here`` may show ``rule`` (e.g. its level on a chart)."""
    return _public(viewer, rule.deliver == "dm", deliveries)


def _public(viewer: Viewer, personal: bool, deliveries: Sequence[Delivery]) -> bool:
    if viewer.here is None:
        # No channel to post in: a service caller (tests, the CLI) sees what it may see, unfiltered.
        return viewer.guild_id is not None and viewer.readable is None and not personal
    if personal:
        return False
    posted = posted_channels(viewer, deliveries)
    return viewer.here in posted or bool(posted & viewer.open_channels)


def planned(router: Router, rule: RuleRow, severity: str) -> list[Delivery]:
    """Return where ``rule``'s alert of ``severity`` would be delivered now."""
    return [(t.address, t.guild_id) for t in router.targets(rule, severity)]


def visible_events(
    repo: Repo, router: Router, viewer: Viewer, events: Iterable[AlertEventRow]
) -> list[tuple[AlertEventRow, list[Delivery]]]:
    """Return the events ``viewer`` may see (in order), each with where it was delivered."""
    events = list(events)
    delivered = repo.event_deliveries(e.id for e in events)
    rules: dict[str, RuleRow | None] = {}
    kept: list[tuple[AlertEventRow, list[Delivery]]] = []
    for event in events:
        deliveries = delivered.get(event.id)
        if deliveries is None:
            # Never queued (silenced): where its rule would post it now, if the rule still exists.
            if event.rule_id not in rules:
                rules[event.rule_id] = repo.rule(event.rule_id)
            rule = rules[event.rule_id]
            deliveries = planned(router, rule, event.severity) if rule is not None else []
        if may_see(viewer, event, deliveries):
            kept.append((event, deliveries))
    return kept


def guild_scope(
    repo: Repo, router: Router, guild_id: int, viewer_id: int, channel_ids: Iterable[int] = ()
) -> EventScope:
    """Return the alert events that may concern a guild: the one list /history, /why, /chart and /status read.

    Its own rules' events, and those of config-file rules routed to it now (by the router's own decision
    per severity: a route's min_severity may keep some alerts out) or delivered there then; never another
    member's direct-message rules. ``visible_events`` then narrows it to what one member may read.
    """
    targets = tuple(sorted(f"channel:{c}" for c in set(channel_ids)))
    routed: dict[str, tuple[str, ...]] = {}
    for rule in repo.rules(origin="config"):
        severities = tuple(
            severity
            for severity in SEVERITIES
            if any(t.guild_id == guild_id or t.address in targets for t in router.targets(rule, severity))
        )
        if severities:
            routed[rule.id] = severities
    hidden = tuple(
        r.id for r in repo.rules(guild_id=guild_id) if r.deliver == "dm" and r.owner_id != viewer_id
    )
    return EventScope(guild_id, routed, targets, hidden)

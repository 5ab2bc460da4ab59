"""The gateway's documented limits and timings, as an EmulatorConfig part (`config.gateway`).

Defaults are Discord's (developers/events/gateway.mdx at c98d64bc unless noted); tests shrink the
windows so they stay fast. Where the documents give no number the default is an assumption, said so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Intent bits Discord defines (gateway.mdx "List of Intents"); any other bit closes with 4013.
DEFINED_INTENTS = sum(1 << bit for bit in (*range(17), 20, 21, 24, 25))
# GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT (gateway.mdx "Privileged Intents").
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)


@dataclass
class GatewayConfig:
    """Gateway limits: intents, versions, payload size, send rate, identify limits, timeouts."""

    # Privileged intents switched on in the Developer Portal: none by default, as for a new app there
    # ("Enabling Privileged Intents"); asking for another one closes with 4014.
    privileged_intents: int = 0
    # API versions the gateway accepts (reference.mdx "API Versions": 6-8 deprecated, 9-10 available,
    # 3-5 discontinued); any other `v` closes with 4012. Intents are mandatory from v8 (gateway.mdx L302).
    api_versions: frozenset[int] = field(default_factory=lambda: frozenset({6, 7, 8, 9, 10}))
    # A client payload over this many bytes closes with 4002 ("Sending Events" L52).
    max_payload_bytes: int = 4096
    # 120 events per connection per 60 s, then 4008 ("Rate Limiting"). Heartbeats count: they are
    # gateway events, and discord.py's own limiter (110/60 s) leaves room for them for that reason.
    send_limit: int = 120
    send_window: float = 60.0
    # `max_concurrency` IDENTIFYs per 5 s, one per rate-limit key shard_id % max_concurrency; one more
    # gets op 9 ("Rate Limiting", "Max Concurrency").
    max_concurrency: int = 1
    identify_window: float = 5.0
    # 1,000 session starts (IDENTIFYs, not RESUMEs) per 24 h ("Identifying" warning).
    session_start_total: int = 1000
    session_start_period: float = 86_400.0
    # "Each shard can only support a maximum of 2500 guilds" ("Sharding"); more closes with 4011.
    guilds_per_shard: int = 2500
    # A connection that sends no heartbeat for heartbeat_interval plus this grace (seconds) is closed and
    # the client "forced to Resume" ("Heartbeat Interval"). The documents give no figure ("there is
    # already tolerance in the heartbeat_interval"): 5 s is an assumption. None disables the check.
    heartbeat_grace: float | None = 5.0
    # The close code for a missed heartbeat is not documented either. The session must stay resumable,
    # so it is 4000 ("Unknown error", reconnect: true), which discord.py answers with a RESUME; 4009 would
    # end the session ("start a new one"), contradicting "forced to Resume".
    heartbeat_timeout_close_code: int = 4000
    # Seconds before a heartbeat is acknowledged: the network round trip a real ACK takes (tens of ms).
    # discord.py's keep-alive thread records when it sent a heartbeat only after the event loop reports
    # the send done; an ACK that arrives sooner, as on loopback with no delay, is measured against the
    # previous heartbeat and logged as "Can't keep up, shard ID None websocket is 41.3s behind" at every
    # beat (discord/gateway.py, KeepAliveHandler.run and ack). 0 acknowledges at once.
    heartbeat_ack_delay: float = 0.05
    # A session left without a connection times out "after a few minutes" ("Initiating a Disconnect");
    # a RESUME after that gets op 9 d=false. 3 minutes is an assumption.
    session_timeout: float = 180.0

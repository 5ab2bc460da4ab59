"""The front end as a cluster of gateway shards in one process (discord.py's AutoShardedBot).

Everything the bot does is ``TripwireBot``'s; only the connection differs: ``shard_ids`` and
``shard_count`` make discord.py open one gateway session per shard of the cluster, each IDENTIFYing with
``shard: [id, count]``, so Discord sends each session its guilds' events only (gateway.mdx "Sharding").
"""

from __future__ import annotations

from discord.ext import commands

from bot.discord.client import TripwireBot


class ShardedTripwireBot(TripwireBot, commands.AutoShardedBot):
    """``TripwireBot`` over ``AutoShardedClient``: pass ``shard_ids`` and ``shard_count``."""

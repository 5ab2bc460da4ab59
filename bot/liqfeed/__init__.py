"""The large-liquidation feed: which liquidations a server sees, batched and paced, and /liqfeed."""

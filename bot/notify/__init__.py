"""Delivery: the durable outbox, grouping, the console sink, alert charts; the Discord sink in discord/."""

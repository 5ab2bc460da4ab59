"""The alert pipeline: signals in, alert events and outbox rows out (engine, rules, quiet, routing)."""

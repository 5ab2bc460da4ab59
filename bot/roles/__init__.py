"""The processes a bot on PostgreSQL can run as (``tripwire run --role``), each composed in its own module."""

"""Tripwire: a self-hosted Discord bot that watches crypto markets."""

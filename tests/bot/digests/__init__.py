"""Tests of bot.digests."""

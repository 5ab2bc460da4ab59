"""Tests of bot.alerts."""

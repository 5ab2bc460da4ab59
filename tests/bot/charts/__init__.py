"""Tests of bot.charts."""

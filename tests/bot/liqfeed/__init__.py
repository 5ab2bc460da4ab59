"""Tests of bot.liqfeed."""

"""Tests of bot.notify."""

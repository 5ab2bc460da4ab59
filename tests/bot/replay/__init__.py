"""Tests of bot.replay."""

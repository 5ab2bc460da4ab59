"""Tests of bot.ops."""

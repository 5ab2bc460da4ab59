"""Recorded data through the live pipeline: the replay, backtests and the candles they read."""

"""Embeds of the slash commands' replies, one module per command family, mirroring ``bot.services``."""

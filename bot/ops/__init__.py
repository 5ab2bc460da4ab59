"""Running the bot: shutdown order, retention, the feed watchdog, metrics, readiness and the web server."""

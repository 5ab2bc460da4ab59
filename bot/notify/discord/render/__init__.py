"""What the Discord sink posts: alert, group, liquidation-feed and digest embeds, and the shared limits."""

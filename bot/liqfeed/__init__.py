"""liqfeed."""

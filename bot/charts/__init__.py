"""Charts: what a chart shows (spec), the rows it reads (data) and drawing it with matplotlib (draw)."""

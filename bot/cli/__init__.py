"""The ``tripwire`` subcommands, one module each (``bot.__main__`` dispatches to them)."""

"""sqlite-utils, imported without the numpy it would bring along.

sqlite-utils imports numpy (and pandas) at its own import whenever they are installed, only to map their
scalar types to column types in its table-creation helpers, which Tripwire never calls (its schema is the
migrations' SQL, its writes plain ``execute``). numpy is installed for the charts and is about 11 MB
resident: every process would carry it from start for nothing (``bench.memory``, issue 24). So
sqlite-utils is imported with numpy and pandas hidden, unless something already imported them (then it
sees them as usual); numpy still loads whenever a chart is drawn.
"""

from __future__ import annotations

import sys

# Setting a module to None in sys.modules is Python's documented way to make its import raise ImportError,
# which sqlite-utils catches (np = None).
_HIDDEN = tuple(name for name in ("numpy", "pandas") if name not in sys.modules)
for _name in _HIDDEN:
    sys.modules[_name] = None  # type: ignore[assignment]
try:
    import sqlite_utils
finally:
    for _name in _HIDDEN:
        if sys.modules.get(_name, 0) is None:
            del sys.modules[_name]

__all__ = ["sqlite_utils"]

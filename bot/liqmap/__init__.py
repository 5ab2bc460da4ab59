"""The liquidation map from stored data: build it (``build``), grade its sweeps (``grading``).

The model itself is pure and lives in ``detectors.liqmap``; this package reads the database for it.
"""

"""The liquidation map: where modelled leveraged positions would be liquidated (docs/liquidation-map.md).

``tiers`` holds the venues' maintenance-margin tables, ``params`` the map's settings, ``model`` the
open/consume/remove bookkeeping, ``clusters`` the largest bands of it, ``sweeps`` what a candle swept.
Pure: nothing here reads the clock, the network or the database.
"""

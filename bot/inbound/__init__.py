"""Alerts that arrive from outside (TradingView webhooks): read the payload, check the route, record it.

``payload`` turns a request body into an alert (the documented template, docs/webhooks.md); ``endpoint``
is the HTTP route on the bot's web server that checks the secret and the limits and hands the alert to
the engine, which records it like any other (silences, grouping, routing, history, /why).
"""

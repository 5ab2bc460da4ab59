"""Errors that carry a message meant for the person who caused them."""

from __future__ import annotations


class UserError(Exception):
    """A mistake by the user (bad argument, missing permission, quota reached) with a message to show them.

    The CLI prints it as one line; the Discord front end answers it ephemerally. Anything else that goes
    wrong is a bug or an outage and is logged with context instead.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

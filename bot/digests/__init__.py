"""Scheduled market digests: when they post, what they say, the /digest commands and the posting jobs.

When they post is ``schedule``; what they say is ``content``, ``text`` and ``chart``; the /digest
commands' logic is ``service``; the APScheduler jobs that post them are ``jobs``.
"""

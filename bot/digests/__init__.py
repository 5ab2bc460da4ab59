"""Scheduled market digests: when they post (schedule), what they say (content, text, chart), the /digest
commands' logic (service) and the APScheduler jobs that post them (jobs).
"""

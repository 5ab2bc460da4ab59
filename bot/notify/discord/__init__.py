"""The Discord sink: posting the outbox, adopting a message sent before a crash, and what it renders."""

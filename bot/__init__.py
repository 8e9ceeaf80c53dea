"""Channels (Telegram, VK, console), the shared conversation, staff commands and the CLI."""

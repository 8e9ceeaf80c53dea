"""The Telegram channel (aiogram 3): translates updates into Conversation events and back."""

"""The channel-neutral core of the bot: it imports no messenger library."""

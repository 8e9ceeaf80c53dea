"""The console channel: the same conversation in a terminal."""

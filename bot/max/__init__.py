"""The survey in the MAX messenger: a thin Bot API client, keyboards within MAX's limits, events."""

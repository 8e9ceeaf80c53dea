"""Channel-neutral core: the conversation, its messages and texts, staff, alerts. Imports no messenger library."""

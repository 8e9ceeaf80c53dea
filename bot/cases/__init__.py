"""Cases, the staff side: access, the relay of answers and replies, and the leader\x27s jobs."""

"""Process plumbing: health and metrics endpoints, logs, secret redaction, one process per database, leadership."""

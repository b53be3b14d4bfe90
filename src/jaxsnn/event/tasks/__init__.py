"""Training tasks of the event-based simulator (run with ``python -m``)."""

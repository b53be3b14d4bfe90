"""Training tasks of the time-discrete simulator (``python -m jaxsnn.discrete.tasks.<name>``)."""

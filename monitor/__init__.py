"""The flarewatch daemon: configuration, scheduling, HTTP surface, state and the CLI."""

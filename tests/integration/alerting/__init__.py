"""Integration tests of notifiers and the outbox against local receivers and Alertmanager."""

"""Rule evaluation, the alert state machine, notifiers and remediation hooks."""

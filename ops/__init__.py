"""Operator tooling built on :mod:`cfapi`: logs and tracing, DNS checks, backups, IaC, deploys."""

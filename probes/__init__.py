"""Probe plugins: one per Cloudflare service, each returning a ``ProbeResult``."""

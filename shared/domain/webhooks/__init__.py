"""Webhooks out, the pure part."""

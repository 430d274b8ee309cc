"""The ingester: receives Stacks events, decodes, dedups and publishes them to Redis."""

__version__ = "0.1.0"

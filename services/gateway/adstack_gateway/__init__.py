"""The gateway: holds client connections and relays matching events from Redis."""

__version__ = "0.1.0"

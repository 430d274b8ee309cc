"""Load, stress and fan-out benchmark tools for AdStack Realtime gateways."""

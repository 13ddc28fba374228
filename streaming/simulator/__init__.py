"""The venue simulator: local WebSocket servers that speak each venue's own wire format.

It stands in for the real venues so that the platform runs and is tested without network access.
``market`` generates a deterministic trade tape, ``binance_wire`` renders it as Binance frames and
``server`` serves those frames over WebSocket (and can write the ground truth of what it sent).
"""

"""Venue feeds: what a collector needs to capture one venue (URL, parser, subscriptions, gaps, repair)."""

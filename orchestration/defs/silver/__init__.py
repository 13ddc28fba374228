"""Silver: cleaned, deduplicated and aggregated tables built from bronze."""

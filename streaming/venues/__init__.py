"""One module per venue: pure parsers, subscription messages and symbol mapping."""

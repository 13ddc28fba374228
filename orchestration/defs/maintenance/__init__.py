"""Table maintenance: compaction of small files and snapshot expiry, on a schedule."""

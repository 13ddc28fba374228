"""Governance: data contracts checks (Soda), DQ scoring, lineage (OpenLineage), SLOs. Grows with the DQ issues."""

"""Governance: contract checks (Soda), DQ scoring, lineage (OpenLineage), SLOs."""

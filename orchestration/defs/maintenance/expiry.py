"""Snapshot expiry for the tables readers time-travel in: silver and gold.

A snapshot older than the retention is expired unless a reader may still need it:

* the table's current snapshot;
* the snapshot that was current at the retention's start: time travel (``as_of``) to any moment
  within the retention reads the snapshot current *then*, which may have been committed long before;
* for gold, the publication pin: a build publishes its gold tables one after the other, each commit
  carrying the build's ``ticklake.publication`` key, and a reader of several gold tables reads each
  at the publication of the first one it read (the API reads the daily summary, then the largest
  trades at the summary's publication; ``serve/api/routes/markets.py``). So every gold table keeps
  its newest snapshot of each publication that is current in *any* gold table: while a build is
  between two commits, the tables it has not reached yet still point at the previous publication,
  and the tables it has reached keep that previous publication's snapshot for their readers.

Bronze keeps its own rule (:func:`ticklake.maintenance.expire_snapshots`: the sink's offsets, and the
snapshot current at the retention start too).
Expiry only drops snapshot metadata; data files are left on disk.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Mapping

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, NoSuchNamespaceError
from pyiceberg.table import Table

from orchestration.defs.marts.publish import GOLD_NAMESPACE, PUBLICATION_KEY
from ticklake.lake import snapshot_current_at

log = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 5
"""An expiry that lost a race with another commit (a publication, a silver build) is recomputed this often."""


@dataclasses.dataclass(frozen=True)
class Expiry:
    """What expiring one table did."""

    identifier: str
    expired: int
    kept: int
    """Snapshots left, recent ones included."""
    pinned: int
    """Snapshots older than the retention kept because a reader may need them."""


def publication_of(table: Table) -> str | None:
    """The marts publication of the table's current snapshot (``None`` when it carries none)."""
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return None
    return snapshot.summary.additional_properties.get(PUBLICATION_KEY)


def publication_snapshots(table: Table, publications: Iterable[str]) -> set[int]:
    """Per publication in ``publications``, the table's newest snapshot carrying it (what readers look up)."""
    wanted = set(publications)
    newest: dict[str, tuple[int, int]] = {}
    for snapshot in table.snapshots():
        key = snapshot.summary.additional_properties.get(PUBLICATION_KEY) if snapshot.summary else None
        if key in wanted:
            order = (snapshot.sequence_number or 0, snapshot.snapshot_id)
            newest[key] = max(newest.get(key, order), order)
    return {snapshot_id for _, snapshot_id in newest.values()}


def expire_table(
    catalog: Catalog, identifier: str, cutoff: dt.datetime, publications: frozenset[str] = frozenset()
) -> Expiry:
    """Expire the snapshots of one table older than ``cutoff``, keeping what readers need (see the module).

    Args:
        catalog: The catalog.
        identifier: The table.
        cutoff: Snapshots committed before this moment may go.
        publications: Marts publications whose newest snapshot in this table stays.

    Returns:
        What was expired and kept.

    Raises:
        CommitFailedException: Other commits kept getting in first for every attempt.
    """
    cutoff_ms = int(cutoff.timestamp() * 1000)
    attempt = 1
    while True:
        table = catalog.load_table(identifier)
        current = table.current_snapshot()
        keep = {current.snapshot_id} if current is not None else set()
        at_cutoff = snapshot_current_at(table, cutoff_ms)
        if at_cutoff is not None:
            keep.add(at_cutoff)
        keep |= publication_snapshots(table, publications)
        old = [s.snapshot_id for s in table.snapshots() if s.timestamp_ms < cutoff_ms]
        expired = [snapshot_id for snapshot_id in old if snapshot_id not in keep]
        if not expired:
            return Expiry(identifier, 0, len(table.snapshots()), len(old))
        try:
            table.maintenance.expire_snapshots().by_ids(expired).commit()
            break
        except CommitFailedException:
            if attempt == COMMIT_ATTEMPTS:
                raise
            attempt += 1
            log.info("expiry of %s: another commit got in first; recomputing", identifier)
    left = len(catalog.load_table(identifier).snapshots())
    log.info("expired %d snapshots of %s (%d left)", len(expired), identifier, left)
    return Expiry(identifier, len(expired), left, len(old) - len(expired))


def gold_tables(catalog: Catalog) -> list[str]:
    """The identifiers of the gold tables that exist (none before the first publication)."""
    try:
        return sorted(".".join(identifier) for identifier in catalog.list_tables(GOLD_NAMESPACE))
    except NoSuchNamespaceError:
        return []


def current_publications(tables: Mapping[str, Table]) -> frozenset[str]:
    """The publications current in any of ``tables``."""
    return frozenset(p for p in (publication_of(table) for table in tables.values()) if p is not None)


def expire_gold(catalog: Catalog, cutoff: dt.datetime) -> list[Expiry]:
    """Expire every gold table's snapshots older than ``cutoff``, keeping each current publication's.

    Returns:
        Per gold table, what was expired and kept.
    """
    identifiers = gold_tables(catalog)
    publications = current_publications({identifier: catalog.load_table(identifier) for identifier in identifiers})
    return [expire_table(catalog, identifier, cutoff, publications) for identifier in identifiers]

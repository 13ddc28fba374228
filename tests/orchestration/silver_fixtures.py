"""A shuffled arrival stream with late trades, landed in bronze.trades, and the silver build of it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pyarrow as pa
from dagster import DagsterInstance, materialize

from contracts.records import Trade
from contracts.tables import BRONZE_TRADES, EVENT_DATES_KEY
from orchestration.defs.resources import LakeResource
from orchestration.defs.silver.assets import SILVER_ASSETS
from ticklake.lake import ensure_table
from ticklake.timeutil import NS_PER_SECOND, date_to_ns, ns_to_date

SECOND = NS_PER_SECOND
MS = 1_000_000
INSTRUMENTS = ("BTC-USDT", "ETH-USDT")


@dataclasses.dataclass(frozen=True)
class Arrival:
    """A trade as it reached the bus: its Kafka position."""

    trade: Trade
    partition: int
    offset: int


def arrival_stream(midnight: int, count: int, seed: int, late_every: int = 17) -> list[Trade]:
    """Trades of two instruments around ``midnight`` in *arrival* order (ts_recv non-decreasing).

    Most trades arrive within 3 s of their event time (shuffled, but within every grace); every
    ``late_every``-th is held back 15 s to 12 min (beyond the 1m grace, some beyond 5m and 1h, some
    across midnight); a few share one receive time (one frame, several trades); some are re-delivered
    a moment later (duplicates while their windows are open).
    """
    rng = random.Random(seed)
    prices = {"BTC-USDT": Decimal("65000.00"), "ETH-USDT": Decimal("3000.00")}
    next_id = {"BTC-USDT": 999_990, "ETH-USDT": 90}
    ts = midnight - 8 * 60 * SECOND
    keyed: list[tuple[int, int, Trade]] = []
    for index in range(count):
        instrument = rng.choice(INSTRUMENTS)
        prices[instrument] += Decimal(rng.randint(-300, 300)) / 100
        ts += rng.choice([0, 1 * MS, 300 * MS, 900 * MS, 1_500 * MS])
        next_id[instrument] += 1
        if index % late_every == 5:
            delay = rng.choice([15, 45, 90, 200, 400, 720]) * SECOND
        else:
            delay = rng.randrange(3 * SECOND)
        recv = ts + delay
        if index % 23 == 0 and keyed and keyed[-1][0] >= ts:
            recv = keyed[-1][0]  # in the same frame as the previous trade
        trade = Trade(
            venue="binance",
            instrument=instrument,
            symbol=instrument.replace("-", ""),
            trade_id=str(next_id[instrument]),
            price=prices[instrument],
            size=Decimal(rng.randint(1, 500_000)) / Decimal(100_000),
            side=rng.choice(["buy", "sell"]),
            ts_event=ts,
            ts_recv=recv,
        )
        keyed.append((recv, index, trade))
        if index % 31 == 7:  # a re-delivery shortly after: its windows are still open
            keyed.append((recv + 500 * MS, index, trade))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [dataclasses.replace(trade, ts_recv=recv) for recv, _, trade in keyed]


def on_the_bus(arrivals: Iterable[Trade]) -> list[Arrival]:
    """Kafka positions of arrivals: one partition per instrument, offsets in arrival order."""
    offsets: dict[int, int] = {}
    out = []
    for trade in arrivals:
        partition = INSTRUMENTS.index(trade.instrument) if trade.instrument in INSTRUMENTS else 2
        offset = offsets.get(partition, 0)
        offsets[partition] = offset + 1
        out.append(Arrival(trade, partition, offset))
    return out


def bronze_row(arrival: Arrival) -> dict[str, Any]:
    row = arrival.trade.to_record(arrival.trade.ts_recv + MS)
    row.update(
        event_date=ns_to_date(arrival.trade.ts_event),
        kafka_partition=arrival.partition,
        kafka_offset=arrival.offset,
    )
    return row


def land(catalog: Any, arrivals: Iterable[Arrival]) -> None:
    """Append arrivals to bronze.trades in one commit, as the sink does (event dates in the summary)."""
    rows = [bronze_row(arrival) for arrival in arrivals]
    table = ensure_table(catalog, BRONZE_TRADES)
    data = pa.Table.from_pylist(rows, schema=table.schema().as_arrow())
    dates = sorted({row["event_date"].isoformat() for row in rows})
    table.append(data, snapshot_properties={EVENT_DATES_KEY: ",".join(dates)})


def build_silver(instance: DagsterInstance, day: dt.date) -> Any:
    """Materialize every silver asset of one day; the result must succeed."""
    result = materialize(
        SILVER_ASSETS, partition_key=day.isoformat(), resources={"lake": LakeResource()}, instance=instance
    )
    assert result.success
    return result


def as_reference(trade: Trade) -> dict[str, Any]:
    """The dict form :func:`testkit.reference_candles` reads."""
    return dataclasses.asdict(trade)


def day_bounds(day: dt.date) -> tuple[int, int]:
    return date_to_ns(day), date_to_ns(day + dt.timedelta(days=1))

"""Helpers to write known trades into bronze.trades for orchestration tests."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pyarrow as pa

from contracts.tables import BRONZE_TRADES, EVENT_DATES_KEY
from ticklake.lake import ensure_table
from ticklake.timeutil import NS_PER_SECOND, date_to_ns, ns_to_date


def make_trades(day: dt.date, count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Trades around the start of ``day`` (some the evening before), with ties on event time."""
    rng = random.Random(seed)
    start = date_to_ns(day) - 5 * 60 * NS_PER_SECOND
    trades = []
    prices = {"BTC-USDT": Decimal("65000.00"), "ETH-USDT": Decimal("3000.00")}
    next_id = {"BTC-USDT": 999_995, "ETH-USDT": 50}
    ts = start
    for _ in range(count):
        instrument = rng.choice(sorted(prices))
        prices[instrument] += Decimal(rng.randint(-300, 300)) / 100
        ts += rng.choice([0, 0, 1_000_000, 250_000_000, 900_000_000])  # ties and gaps
        next_id[instrument] += 1
        trades.append(
            {
                "venue": "binance",
                "instrument": instrument,
                "symbol": instrument.replace("-", ""),
                "trade_id": str(next_id[instrument]),
                "price": prices[instrument],
                "size": Decimal(rng.randint(1, 500_000)) / Decimal(100_000),
                "side": rng.choice(["buy", "sell"]),
                "ts_event": ts,
                "ts_recv": ts + 1_000_000,
                "ts_ingest": ts + 2_000_000,
            }
        )
    return trades


def append_bronze(catalog: Any, trades: list[dict[str, Any]], seed: int = 3) -> None:
    """Append trades to bronze.trades in shuffled arrival order, one commit per call."""
    rows = [dict(t) for t in trades]
    random.Random(seed).shuffle(rows)
    for offset, row in enumerate(rows):
        row["event_date"] = ns_to_date(row["ts_event"])
        row["kafka_partition"] = 0
        row["kafka_offset"] = offset
    table = ensure_table(catalog, BRONZE_TRADES)
    data = pa.Table.from_pylist(rows, schema=table.schema().as_arrow())
    dates = sorted({r["event_date"].isoformat() for r in rows})
    table.append(data, snapshot_properties={EVENT_DATES_KEY: ",".join(dates)})

"""Known silver data for the marts tests, the Dagster build of the marts, and an independent reference.

The reference computations here are plain Python over the trades the test wrote (exact decimals),
never the SQL under test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import random
import warnings
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from dagster import DagsterInstance, ExecuteInProcessResult, materialize
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import EqualTo

from contracts.tables import CANDLE_INTERVALS, SILVER_CANDLES, SILVER_TRADES
from orchestration.defs.marts.assets import dbt_resource, marts_assets
from orchestration.defs.resources import LakeResource
from orchestration.defs.silver.candles import build_candles
from ticklake.lake import ensure_table, on_day
from ticklake.settings import Settings, load_settings
from ticklake.timeutil import NS_PER_SECOND, date_to_ns, ns_to_date

DAY = dt.date(2026, 11, 20)
PREVIOUS = DAY - dt.timedelta(days=1)
NEXT = DAY + dt.timedelta(days=1)
MINUTE = 60 * NS_PER_SECOND
LARGEST_N = 5

# venue, instrument, start price, price step, smallest and largest size, id style
SERIES: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("binance", "BTC-USDT", "65000.00", "0.01", "0.00001", "5", "numeric"),
    ("binance", "ETH-USDT", "3000.00", "0.01", "0.001", "40", "numeric"),
    ("coinbase", "SHIB-USD", "0.00000123", "0.00000001", "1E+8", "1.2E+10", "numeric"),
    ("krakenfutures", "BTC-USD-PERP", "64990.5", "0.5", "0.0001", "3", "numeric"),
    ("krakenfutures", "ETH-USD-20261225", "3020.25", "0.25", "0.01", "20", "numeric"),
    ("kalshi", "KALSHI:KXBTCD-26NOV2117-T95999.99", "0.42", "0.01", "1", "500", "hex"),
)
"""Every instrument kind (spot, perpetual, future, prediction), tiny prices with huge sizes, text ids."""


def make_trades(day: dt.date, count: int, seed: int, hours: tuple[float, float] = (0.0, 3.0)) -> list[dict[str, Any]]:
    """Silver trades of every series during ``hours`` of ``day``: random walks, ties on event time, all sides.

    Args:
        day: The UTC day.
        count: Trades per series.
        seed: Random seed (same seed, same trades).
        hours: The span of the day the trades fall in.

    Returns:
        Trade dicts with the columns of ``silver.trades`` (decimals exact).
    """
    rng = random.Random(seed)
    start = date_to_ns(day) + int(hours[0] * 3600 * NS_PER_SECOND)
    span = int((hours[1] - hours[0]) * 3600 * NS_PER_SECOND)
    trades: list[dict[str, Any]] = []
    for index, (venue, instrument, first_price, tick, smallest, largest, ids) in enumerate(SERIES):
        price, step, small, large = (Decimal(text) for text in (first_price, tick, smallest, largest))
        stamps = sorted(start + rng.randrange(span) for _ in range(count))
        for position in range(1, len(stamps), 7):
            stamps[position] = stamps[position - 1]  # ties on event time, broken by trade id
        for number, ts in enumerate(stamps):
            price = max(step, price + step * rng.randint(-40, 40))
            if venue == "kalshi":
                price = min(max(price, Decimal("0.01")), Decimal("0.99"))
            fraction = Decimal(rng.randint(0, 10**6)) / 10**6
            size = (small + (large - small) * fraction).quantize(small)
            side = rng.choice(["buy", "sell", "buy", "sell", "unknown"] if venue == "coinbase" else ["buy", "sell"])
            trade_id = f"{seed:02d}{number:07d}" if ids == "numeric" else f"{rng.getrandbits(48):x}"
            trades.append(
                {
                    "venue": venue,
                    "instrument": instrument,
                    "symbol": instrument.replace("-", ""),
                    "trade_id": trade_id,
                    "price": price,
                    "size": size,
                    "side": side,
                    "ts_event": ts,
                    "ts_recv": ts + (index + 1) * 1_000_000,
                    "ts_ingest": ts + 5_000_000,
                }
            )
    return trades


def silver_rows(trades: list[dict[str, Any]]) -> pa.Table:
    """``trades`` as rows of ``silver.trades``."""
    rows = [
        dict(trade, event_date=ns_to_date(trade["ts_event"]), kafka_partition=0, kafka_offset=offset)
        for offset, trade in enumerate(trades)
    ]
    return pa.Table.from_pylist(rows, schema=SILVER_TRADES.schema().as_arrow())


def write_silver_day(catalog: Catalog, day: dt.date, trades: list[dict[str, Any]]) -> None:
    """Replace one day of ``silver.trades`` and ``silver.candles`` (built by the silver candle code)."""
    on_this_day = [t for t in trades if ns_to_date(t["ts_event"]) == day]
    rows = silver_rows(on_this_day)
    candles = pa.concat_tables([build_candles(rows, interval) for interval in CANDLE_INTERVALS])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Delete operation did not match any records")
        for table_def, data in ((SILVER_TRADES, rows), (SILVER_CANDLES, candles)):
            table = ensure_table(catalog, table_def)
            target = table.schema().as_arrow()
            table.overwrite(data.select(target.names).cast(target), overwrite_filter=on_day(day))


def lake_settings(state_dir: Path) -> Settings:
    """Settings of an embedded lake under ``state_dir``."""
    return load_settings(state_dir=state_dir, catalog_uri=None, warehouse=None)


def build_marts(state_dir: Path, day: dt.date, instance: DagsterInstance) -> ExecuteInProcessResult:
    """Materialize the marts' partition ``day`` with Dagster (real dbt, real Iceberg); failures are returned."""
    return materialize(
        [marts_assets()],
        partition_key=day.isoformat(),
        resources={"lake": LakeResource(state_dir=str(state_dir)), "dbt": dbt_resource()},
        instance=instance,
        raise_on_error=False,
    )


def read_gold(catalog: Catalog, identifier: str, day: dt.date | None = None) -> list[dict[str, Any]]:
    """The rows of a gold table (of one day when given)."""
    table = catalog.load_table(identifier)
    scan = table.scan(row_filter=EqualTo("event_date", day)) if day is not None else table.scan()
    return scan.to_arrow().to_pylist()


def event_order(trade: dict[str, Any]) -> tuple[int, int, str]:
    """Event time, ties by trade id with numeric ids in numeric order (shorter first, then text)."""
    return trade["ts_event"], len(trade["trade_id"]), trade["trade_id"]


def unique_trades(trades: list[dict[str, Any]], day: dt.date) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The day's trades per (venue, instrument), one per identity, in event order."""
    unique = {(t["venue"], t["symbol"], t["trade_id"]): t for t in trades if ns_to_date(t["ts_event"]) == day}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for trade in unique.values():
        groups[(trade["venue"], trade["instrument"])].append(trade)
    for group in groups.values():
        group.sort(key=event_order)
    return groups


def reference_daily(trades: list[dict[str, Any]], day: dt.date) -> dict[tuple[str, str], dict[str, Any]]:
    """The daily market summary of ``day`` per (venue, instrument), computed in plain Python."""
    out = {}
    for key, group in unique_trades(trades, day).items():
        volume = sum((t["size"] for t in group), Decimal(0))
        buy = sum((t["size"] for t in group if t["side"] == "buy"), Decimal(0))
        sell = sum((t["size"] for t in group if t["side"] == "sell"), Decimal(0))
        unknown = sum((t["size"] for t in group if t["side"] == "unknown"), Decimal(0))
        quote_volume = math.fsum(float(t["price"]) * float(t["size"]) for t in group)
        closes: dict[int, Decimal] = {}
        for trade in group:  # event order: the last trade of a minute is its close
            closes[trade["ts_event"] // MINUTE] = trade["price"]
        minutes = [closes[m] for m in sorted(closes)]
        returns = [float((b / a).ln()) for a, b in itertools.pairwise(minutes)]  # exact decimals
        out[key] = {
            "open": group[0]["price"],
            "close": group[-1]["price"],
            "high": max(t["price"] for t in group),
            "low": min(t["price"] for t in group),
            "volume": volume,
            "buy_volume": buy,
            "sell_volume": sell,
            "unknown_volume": unknown,
            "quote_volume": quote_volume,
            "vwap": quote_volume / float(volume),
            "trade_count": len(group),
            "buy_count": sum(1 for t in group if t["side"] == "buy"),
            "sell_count": sum(1 for t in group if t["side"] == "sell"),
            "buy_sell_ratio": float(buy) / float(sell) if sell else None,
            "realized_volatility": math.sqrt(math.fsum(r * r for r in returns)) if returns else None,
            "return_count": len(returns),
            "first_trade_ns": group[0]["ts_event"],
            "last_trade_ns": group[-1]["ts_event"],
            "first_trade_id": group[0]["trade_id"],
            "last_trade_id": group[-1]["trade_id"],
        }
    return out


def reference_largest(
    trades: list[dict[str, Any]], day: dt.date, n: int = LARGEST_N
) -> dict[tuple[str, str], list[str]]:
    """The trade ids of the day's ``n`` largest trades per (venue, instrument): by size, ties in event order."""
    return {
        key: [t["trade_id"] for t in sorted(group, key=lambda t: (-t["size"], *event_order(t)))[:n]]
        for key, group in unique_trades(trades, day).items()
    }


@dataclasses.dataclass
class BuiltLake:
    """The lake, the trades written to silver, and the two Dagster builds (DAY, then PREVIOUS)."""

    state_dir: Path
    catalog: Catalog
    trades: list[dict[str, Any]]
    first: ExecuteInProcessResult
    second: ExecuteInProcessResult
    gold_files_after_first: dict[str, set[str]]


def gold_files(catalog: Catalog, day: dt.date) -> dict[str, set[str]]:
    """Per daily gold table, the data files of ``day`` in its current snapshot."""
    out = {}
    for identifier in ("gold.daily_market_summary", "gold.largest_trades", "gold.candles"):
        scan = catalog.load_table(identifier).scan(row_filter=EqualTo("event_date", day))
        out[identifier] = {task.file.file_path for task in scan.plan_files()}
    return out

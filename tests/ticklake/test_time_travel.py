"""Time travel: read_table as of a snapshot id or a time, and ``ticklake read``."""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.table import Table
from typer.testing import CliRunner

from contracts.tables import BRONZE_TRADES
from ticklake.cli import app
from ticklake.errors import LakeReadError
from ticklake.lake import ensure_table, on_day, open_catalog, read_table, snapshot_as_of
from ticklake.readout import parse_as_of
from ticklake.settings import Settings
from ticklake.timeutil import date_to_ns, ns_to_date

DAY = dt.date(2026, 11, 21)


def trade(trade_id: int, price: str, day: dt.date = DAY) -> dict[str, Any]:
    ts = date_to_ns(day) + trade_id * 1_000_000_000
    return {
        "venue": "binance",
        "instrument": "BTC-USDT",
        "symbol": "BTCUSDT",
        "trade_id": str(trade_id),
        "price": Decimal(price),
        "size": Decimal("0.5"),
        "side": "buy",
        "ts_event": ts,
        "ts_recv": ts + 1,
        "ts_ingest": ts + 2,
        "event_date": ns_to_date(ts),
        "kafka_partition": 0,
        "kafka_offset": trade_id,
    }


def rows(*trades: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(trades), schema=BRONZE_TRADES.schema().as_arrow())


def after(timestamp_ms: int) -> None:
    """Wait until the clock is past ``timestamp_ms`` + 2 ms, so the next commit has a later timestamp."""
    while time.time_ns() // 1_000_000 <= timestamp_ms + 2:
        time.sleep(0.001)


def history(settings: Settings) -> tuple[Table, list[int]]:
    """bronze.trades with three snapshots: append {1, 2}, append {3}, replace the day with {1 at 99}."""
    table = ensure_table(open_catalog(settings), BRONZE_TRADES)
    ids = []
    for step in (
        lambda: table.append(rows(trade(1, "10"), trade(2, "11"))),
        lambda: table.append(rows(trade(3, "12"))),
        lambda: table.overwrite(rows(trade(1, "99")), overwrite_filter=on_day(DAY)),
    ):
        if ids:
            after(table.snapshot_by_id(ids[-1]).timestamp_ms)  # type: ignore[union-attr]
        step()
        ids.append(table.current_snapshot().snapshot_id)  # type: ignore[union-attr]
    return table, ids


def prices(table: pa.Table) -> dict[str, Decimal]:
    return dict(zip(table.column("trade_id").to_pylist(), table.column("price").to_pylist(), strict=True))


def test_read_as_of_a_snapshot_id_or_a_time(settings: Settings) -> None:
    table, (first, second, _) = history(settings)
    catalog = open_catalog(settings)
    assert prices(read_table(catalog, "bronze.trades")) == {"1": Decimal("99")}
    assert prices(read_table(catalog, "bronze.trades", as_of=first)) == {"1": Decimal(10), "2": Decimal(11)}
    assert set(prices(read_table(catalog, "bronze.trades", as_of=second))) == {"1", "2", "3"}

    at_second = table.snapshot_by_id(second).timestamp_ms  # type: ignore[union-attr]
    moment = dt.datetime.fromtimestamp(at_second / 1000, tz=dt.UTC)
    assert set(prices(read_table(catalog, "bronze.trades", as_of=moment))) == {"1", "2", "3"}  # inclusive
    just_before = moment - dt.timedelta(milliseconds=1)
    assert set(prices(read_table(catalog, "bronze.trades", as_of=just_before))) == {"1", "2"}
    in_paris = moment.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert set(prices(read_table(catalog, "bronze.trades", as_of=in_paris))) == {"1", "2", "3"}

    # filters and limits apply to the snapshot read
    filtered = read_table(catalog, "bronze.trades", as_of=second, row_filter="trade_id in ('2', '3')")
    assert set(prices(filtered)) == {"2", "3"}
    assert read_table(catalog, "bronze.trades", as_of=second, limit=1).num_rows == 1
    assert snapshot_as_of(table, moment).snapshot_id == second


def test_a_time_inside_a_commit_reads_what_readers_saw_then(settings: Settings) -> None:
    """An overwrite commits a delete snapshot and an append snapshot at once: the empty state never existed."""
    table, (_, second, third) = history(settings)
    deleted = [s for s in table.snapshots() if s.summary is not None and s.summary.operation.value == "delete"]
    assert len(deleted) == 1 and deleted[0].parent_snapshot_id == second
    appended = table.snapshot_by_id(third)
    assert appended is not None and deleted[0].timestamp_ms < appended.timestamp_ms
    inside = dt.datetime.fromtimestamp(deleted[0].timestamp_ms / 1000, tz=dt.UTC)
    assert snapshot_as_of(table, inside).snapshot_id == second
    assert set(prices(read_table(open_catalog(settings), "bronze.trades", as_of=inside))) == {"1", "2", "3"}


def test_time_travel_errors_say_what_exists(settings: Settings) -> None:
    table, (first, _, third) = history(settings)
    catalog = open_catalog(settings)
    created = table.snapshot_by_id(first).timestamp_ms  # type: ignore[union-attr]
    before = dt.datetime.fromtimestamp(created / 1000, tz=dt.UTC) - dt.timedelta(seconds=1)
    with pytest.raises(LakeReadError, match=r"no snapshot at or before .* its first snapshot is from"):
        read_table(catalog, "bronze.trades", as_of=before)
    with pytest.raises(LakeReadError, match=rf"no snapshot 12345 \(or it expired\); its latest snapshots: .*{third}"):
        read_table(catalog, "bronze.trades", as_of=12345)
    with pytest.raises(LakeReadError, match="no time zone"):
        read_table(catalog, "bronze.trades", as_of=dt.datetime(2026, 11, 21))
    with pytest.raises(LakeReadError, match="cannot parse the filter"):
        read_table(catalog, "bronze.trades", row_filter="trade_id ==")
    with pytest.raises(LakeReadError, match="nope"):
        read_table(catalog, "bronze.trades", row_filter="nope = 1")
    with pytest.raises(LakeReadError, match=r"no table 'silver\.nothing'"):
        read_table(catalog, "silver.nothing")
    empty = ensure_table(catalog, BRONZE_TRADES.__class__("bronze.empty", "trade", (), (), ()))
    with pytest.raises(LakeReadError, match="it has no snapshot yet"):
        snapshot_as_of(empty, dt.datetime.now(dt.UTC))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123", 123),
        ("2026-11-21", dt.datetime(2026, 11, 21, tzinfo=dt.UTC)),
        ("2026-11-21T10:00:00Z", dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC)),
        ("2026-11-21T11:00:00+01:00", dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC)),
        ("2026-11-21T10:00:00", dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC)),
    ],
)
def test_parse_as_of(text: str, expected: object) -> None:
    assert parse_as_of(text) == expected


def test_parse_as_of_rejects_other_text() -> None:
    with pytest.raises(LakeReadError, match="neither a snapshot id nor an ISO-8601 time"):
        parse_as_of("yesterday")


def test_cli_read_as_of_with_a_filter_as_json_lines(settings: Settings) -> None:
    _, (first, second, _) = history(settings)
    runner = CliRunner()
    result = runner.invoke(
        app, ["read", "bronze.trades", "--as-of", str(second), "--where", "trade_id != '1'", "--format", "jsonl"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((line["trade_id"], line["price"]) for line in lines) == [
        ("2", "11.000000000000000000"),
        ("3", "12.000000000000000000"),
    ]
    assert lines[0]["event_date"] == "2026-11-21"
    assert f"2 row(s) of bronze.trades at snapshot {second}" in result.stderr

    table = runner.invoke(app, ["read", "bronze.trades", "--as-of", str(first), "--limit", "1"], env={"COLUMNS": "400"})
    assert table.exit_code == 0, table.output
    assert f"bronze.trades at snapshot {first}" in table.stdout and "BTCUSDT" in table.stdout
    assert "1 row(s)" in table.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["read", "bronze.trades", "--as-of", "last tuesday"], "neither a snapshot id nor an ISO-8601 time"),
        (["read", "bronze.trades", "--as-of", "1"], "has no snapshot 1"),
        (["read", "bronze.trades", "--as-of", "2000-01-01"], "no snapshot at or before 2000-01-01"),
        (["read", "bronze.trades", "--where", "price >"], "cannot parse the filter"),
        (["read", "silver.nothing"], "no table 'silver.nothing'"),
    ],
)
def test_cli_read_bad_input_exits_2_with_a_message(settings: Settings, args: list[str], message: str) -> None:
    history(settings)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr

"""The ``ticklake`` command line: offline parsing of captured frames, and the command list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from ticklake.cli import app

BARE_TRADE = (
    '{"e":"trade","E":1790649901913,"s":"PEPEUSDT","t":77,"p":"0.00000123","q":"12000000000.50000000",'
    '"T":1790649901912,"m":false}'
)
COMBINED_TRADE = (
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1790649901913,"s":"BTCUSDT","t":6720857582,'
    '"p":"83034.29000000","q":"0.00062000","T":1790649901913,"m":true,"M":true}}'
)
ACK = '{"result":null,"id":1}'
MALFORMED = '{"e":"trade","s":"BTCUSDT","p":'


def capture_file(tmp_path: Path) -> Path:
    path = tmp_path / "capture.jsonl"
    lines = [
        BARE_TRADE,
        json.dumps({"raw": COMBINED_TRADE, "ts_recv": 1_800_000_000_000_000_000}),
        "",
        ACK,
        MALFORMED,
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_parse_prints_records_controls_and_rejects_as_json_lines(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["parse", "--venue", "binance", str(capture_file(tmp_path))])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 4
    bare, combined, ack, reject = lines

    assert isinstance(bare.pop("ts_recv"), int)  # stamped at parse time: no ts_recv in the input
    assert bare == {
        "line": 1,
        "type": "Trade",
        "venue": "binance",
        "instrument": "PEPE-USDT",
        "symbol": "PEPEUSDT",
        "trade_id": "77",
        "price": "0.00000123",
        "size": "12000000000.50000000",
        "side": "buy",
        "ts_event": 1_790_649_901_912_000_000,
    }
    assert combined == {
        "line": 2,
        "type": "Trade",
        "venue": "binance",
        "instrument": "BTC-USDT",
        "symbol": "BTCUSDT",
        "trade_id": "6720857582",
        "price": "83034.29000000",
        "size": "0.00062000",
        "side": "sell",
        "ts_event": 1_790_649_901_913_000_000,
        "ts_recv": 1_800_000_000_000_000_000,
    }
    assert ack == {"line": 4, "control": "ack", "channel": ""}  # the blank line 3 is skipped
    assert reject["line"] == 5
    assert reject["raw"] == MALFORMED
    assert reject["error"].startswith("unparseable frame")
    assert "1 frame(s) rejected" in result.stderr


def test_parse_reads_stdin() -> None:
    result = CliRunner().invoke(app, ["parse", "-"], input=ACK + "\n" + COMBINED_TRADE + "\n")
    assert result.exit_code == 0, result.output
    ack, trade = (json.loads(line) for line in result.stdout.splitlines())
    assert ack["control"] == "ack"
    assert (trade["line"], trade["price"], trade["size"]) == (2, "83034.29000000", "0.00062000")
    assert "rejected" not in result.stderr


def test_parse_refuses_an_unknown_venue(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["parse", "--venue", "nosuchvenue", str(capture_file(tmp_path))])
    assert result.exit_code == 2
    assert "unknown venue 'nosuchvenue'" in result.stderr
    assert result.stdout == ""


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ticklake", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"},
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    panel = result.stdout.split("Commands", 1)[1]
    # the first word of each row of the Commands panel is a command name
    listed = [line.strip("│ ").split()[0] for line in panel.splitlines() if line.startswith("│")]
    assert listed == [
        "up",
        "sim",
        "export-raw",
        "capture",
        "sink",
        "aggregate",
        "serve",
        "parse",
        "chaos",
        "read",
        "reprocess",
        "backfill",
        "contracts",
    ], result.stdout

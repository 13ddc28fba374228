"""Replay: recorded real frames served over WebSocket, in order, at the recorded pace or faster."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from streaming.errors import ParseError
from streaming.raw_export import recording_line
from streaming.simulator.replay import RecordedFrame, RecordingError, open_replay, pauses, read_recording
from streaming.venues import binance

FIXTURES = Path(__file__).parents[2] / "fixtures"


def binance_recording() -> list[str]:
    """The real Binance frames of the fixtures as a recording, 20 ms apart."""
    frames = [json.loads(line)["raw"] for line in (FIXTURES / "binance" / "frames.jsonl").read_text().splitlines()]
    start = 1_790_000_000_000_000_000
    return [recording_line("binance", start + i * 20_000_000, raw.encode()) for i, raw in enumerate(frames)]


def run(scenario: Any, timeout: float = 20.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(bounded())


def test_read_recording_keeps_order_per_venue_and_binary_frames() -> None:
    lines = [
        json.dumps({"venue": "kraken", "ts_recv": 5, "raw": '{"channel":"heartbeat"}'}),
        "",
        json.dumps({"venue": "binance", "raw": "a"}),
        json.dumps({"venue": "kraken", "ts_recv": 9, "raw_b64": base64.b64encode(b"\xff\x00").decode()}),
    ]
    tapes = read_recording(lines)
    assert tapes == {
        "kraken": [RecordedFrame("kraken", 5, '{"channel":"heartbeat"}'), RecordedFrame("kraken", 9, b"\xff\x00")],
        "binance": [RecordedFrame("binance", None, "a")],
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 1: not JSON"),
        ("[1]", "line 1: expected a JSON object"),
        ('{"venue": "nyse", "raw": "x"}', "line 1: venue 'nyse'"),
        ('{"venue": "binance"}', "line 1: needs a 'raw'"),
        ('{"venue": "binance", "raw_b64": "***"}', "line 1: raw_b64 is not base64"),
        ('{"venue": "binance", "raw": "x", "ts_recv": -1}', "line 1: ts_recv must be epoch nanoseconds"),
        ('{"venue": "binance", "raw": "x", "ts_recv": "5"}', "line 1: ts_recv must be epoch nanoseconds"),
    ],
)
def test_a_bad_line_is_named(line: str, message: str) -> None:
    with pytest.raises(RecordingError, match=message):
        read_recording([line])


def test_pauses_follow_the_recorded_gaps_divided_by_speed() -> None:
    frames = [RecordedFrame("binance", t, "x") for t in (0, 1_000_000_000, 1_000_000_000, 3_000_000_000)]
    assert pauses(frames, 1.0) == [0.0, 1.0, 0.0, 2.0]
    assert pauses(frames, 4.0) == [0.0, 0.25, 0.0, 0.5]
    assert pauses(frames, 0.0) == [0.0, 0.0, 0.0, 0.0]
    assert pauses([RecordedFrame("binance", None, "x")] * 2, 1.0) == [0.0, 0.0]


def test_replay_serves_the_recorded_frames_in_order_at_the_pace_asked() -> None:
    lines = binance_recording()
    tapes = read_recording(lines)
    expected = [frame.data for frame in tapes["binance"]]
    recorded_span = (len(expected) - 1) * 0.020

    async def scenario() -> tuple[list[Any], float]:
        async with open_replay(tapes, "127.0.0.1", 0, speed=2.0) as replay:
            base = f"ws://127.0.0.1:{replay.port}"
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{base}/kraken/v2"):
                    pass
            assert refused.value.response.status_code == 404
            async with connect(f"{base}/binance/stream?streams=btcusdt@trade") as ws:
                await ws.send(binance.subscribe_message(["btcusdt@trade"], 1))  # read and ignored
                started = time.monotonic()
                received = [await ws.recv() for _ in expected]
                elapsed = time.monotonic() - started
            await asyncio.wait_for(replay.finished(), 5)
            assert replay.sent("binance") == len(expected)
            return received, elapsed

    received, elapsed = run(scenario)
    assert received == expected
    # at speed 2 the recorded span takes about half as long: never faster than the recording allows
    assert elapsed >= recorded_span / 2 * 0.9


def test_export_then_replay_round_trips_every_frame_exactly(tmp_path: Path) -> None:
    payloads = [b'{"e":"trade"}', "caf\u00e9".encode(), b"\xff\xfe not utf-8"]
    path = tmp_path / "recording.jsonl"
    path.write_text("".join(recording_line("coinbase", 10 + i, p) for i, p in enumerate(payloads)), encoding="utf-8")
    with path.open(encoding="utf-8") as lines:
        tapes = read_recording(lines)

    async def scenario() -> list[Any]:
        async with (
            open_replay(tapes, "127.0.0.1", 0, speed=0) as replay,
            connect(f"ws://127.0.0.1:{replay.port}/coinbase") as ws,
        ):
            return [await ws.recv() for _ in payloads]

    received = run(scenario)
    assert [m.encode() if isinstance(m, str) else m for m in received] == payloads


def test_a_recording_replays_through_the_real_collector(broker: str) -> None:
    from confluent_kafka import Consumer, TopicPartition

    from contracts.schemas import decode
    from streaming.bus import client_config, partitions_of
    from streaming.collector import Collector
    from streaming.feeds.binance import feed
    from ticklake.settings import load_settings

    tapes = read_recording(binance_recording())
    frames = tapes["binance"]
    expected = set()
    rejects = 0
    for frame in frames:
        try:
            parsed = binance.parse(frame.data, 0)
        except ParseError:
            rejects += 1
            continue
        expected |= {(t.symbol, t.trade_id) for t in parsed.records}

    async def scenario() -> Any:
        async with open_replay(tapes, "127.0.0.1", 0, speed=0) as replay:
            settings = load_settings(ws_urls={"binance": f"ws://127.0.0.1:{replay.port}/binance"})
            collector = Collector(settings, feed(settings))
            stop = asyncio.Event()
            task = asyncio.create_task(collector.run(stop))
            while collector.stats.frames < len(frames):
                await asyncio.sleep(0.02)
            stop.set()
            return settings, await task

    settings, stats = run(scenario, timeout=60)
    assert stats.frames == len(frames) and stats.rejects == rejects
    consumer = Consumer({**client_config(settings), "group.id": "replay-test", "enable.auto.commit": False})
    topic = settings.topic("trades")
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions_of(settings, topic)])
    landed = set()
    deadline = time.monotonic() + 30
    while len(landed) < len(expected) and time.monotonic() < deadline:
        for message in consumer.consume(100, timeout=0.3):
            if message.error() is None:
                record = decode("trade", message.value())
                landed.add((record["symbol"], record["trade_id"]))
    consumer.close()
    assert landed == expected and len(expected) > 3

"""The Coinbase simulator: Advanced Trade's wire format and protocol, and the REST histories, on the real server."""

from __future__ import annotations

import asyncio
import calendar
import functools
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from testkit import run_bounded, simulator_settings
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from contracts.records import Trade
from streaming import rest
from streaming.errors import ParseError
from streaming.feeds.coinbase import trade_ids
from streaming.gaps import SequenceTracker
from streaming.simulator import coinbase_wire as wire
from streaming.simulator.coinbase import SNAPSHOT_TRADES, CoinbaseSim
from streaming.simulator.market import Market, SimTrade, iter_trades
from streaming.simulator.server import SimulatorHandle, open_simulator
from streaming.venues import coinbase

INSTRUMENTS = ["BTC-USD", "ETH-USD"]
TIMEOUT = 20.0
START_MS = 1_790_000_000_000


run = functools.partial(run_bounded, timeout=TIMEOUT)


sim_settings = functools.partial(simulator_settings, "coinbase", INSTRUMENTS, seed=7, rate=200.0, alone=True)


def expected_trade(trade: SimTrade, received_at: int = 5) -> Trade:
    """What the parser must read from any rendering of a simulated trade."""
    return Trade(
        venue="coinbase",
        instrument=trade.instrument,
        symbol=coinbase.to_symbol(trade.instrument),
        trade_id=str(trade.trade_id),
        price=trade.price,
        size=trade.size,
        side=trade.side,
        ts_event=trade.ts_ms * 1_000_000,
        ts_recv=received_at,
    )


def ns_of(text: str) -> int:
    """Epoch ns of a ``...Z`` time, computed without the parser."""
    whole, _, fraction = text[:-1].partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int(fraction.ljust(9, "0") or "0")


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    value = json.loads(await ws.recv())
    assert isinstance(value, dict)
    return value


async def subscribe(ws: ClientConnection, products: list[str], channel: str = "market_trades") -> dict[str, Any]:
    """Send a subscription and return its ack (frames arriving before it must be trades)."""
    await ws.send(coinbase.subscribe_message(products, channel))
    while (frame := await recv_json(ws))["channel"] != "subscriptions":
        assert frame["channel"] in ("market_trades", "heartbeats"), frame
    return frame


async def drain(ws: ClientConnection) -> list[str]:
    """Every frame up to the ack of a (harmless) heartbeats subscription sent now, in order, the ack included."""
    await ws.send(coinbase.subscribe_message([], "heartbeats"))
    frames: list[str] = []
    while True:
        frames.append(str(await ws.recv()))
        try:
            message = json.loads(frames[-1])
        except ValueError:
            continue  # a malformed frame (fault)
        if message.get("channel") == "subscriptions" and "heartbeats" in message["events"][0]["subscriptions"]:
            return frames


async def run_until_exhausted(sim: SimulatorHandle, products: list[str]) -> list[str]:
    """Subscribe one connection, let the venue reach ``sim_max_trades``; every frame received, in order."""
    async with connect(sim.url("coinbase")) as ws:
        await ws.send(coinbase.subscribe_message(products, "market_trades"))
        await asyncio.wait_for(sim.tasks["coinbase"], TIMEOUT)
        return await drain(ws)


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


# --- wire format ---------------------------------------------------------------------------------


def wire_tape() -> list[SimTrade]:
    instruments = ["BTC-USD", "ETH-USD", "DOGE-USD", "ETH-BTC", "BTC-USDC-PERP"]
    # every 250 ms: whole seconds (no fraction), and .25/.5/.75 (trailing zeros dropped)
    return list(iter_trades(3, instruments, range(START_MS, START_MS + 400 * 250, 250)))


def test_trade_frames_parse_back_to_the_trade() -> None:
    tape = wire_tape()
    assert len(tape) == 400
    for number, trade in enumerate(tape):
        raw = wire.market_trades_frame([trade], sequence_num=number, timestamp_ns=START_MS * 10**6 + number)
        parsed = coinbase.parse(raw, 5)
        assert parsed.channel == "market_trades" and parsed.control is None
        assert parsed.records == (expected_trade(trade),)
        assert coinbase.sequence_of(raw) == coinbase.FrameSequence("connection", number, True)
        message = json.loads(raw)
        assert message["client_id"] == "" and ns_of(message["timestamp"]) == START_MS * 10**6 + number
        (item,) = message["events"][0]["trades"]
        assert item["side"] == ("SELL" if trade.side == "buy" else "BUY")  # the maker side
        assert isinstance(item["price"], str) and isinstance(item["size"], str)
        assert item["trade_id"] == str(trade.trade_id)
        assert not item["price"].endswith("0") or "." not in item["price"]
        assert Decimal(item["price"]) == trade.price and Decimal(item["size"]) == trade.size
        assert ns_of(item["time"]) == trade.ts_ms * 10**6
        assert ("." in item["time"]) == (trade.ts_ms % 1000 != 0)
    assert {trade.instrument for trade in tape} >= {"BTC-USDC-PERP", "ETH-BTC"}
    assert coinbase.parse(wire.market_trades_frame(tape[:5], sequence_num=9, timestamp_ns=0), 5).records == tuple(
        expected_trade(trade) for trade in tape[:5]
    )
    assert '"product_id":"BTC-PERP-INTX"' in wire.market_trades_frame([tape[4]], sequence_num=0, timestamp_ns=0)


def test_snapshot_and_rest_bodies_parse_back_newest_first() -> None:
    tape = wire_tape()
    by_instrument: dict[str, list[SimTrade]] = {}
    for trade in tape:
        by_instrument.setdefault(trade.instrument, []).append(trade)
    groups = list(by_instrument.values())
    snapshot = wire.snapshot_frame(groups, sequence_num=1, timestamp_ns=START_MS * 10**6)
    events = json.loads(snapshot)["events"]
    assert [event["type"] for event in events] == ["snapshot"] * len(groups)
    assert coinbase.parse(snapshot, 5).records == tuple(
        expected_trade(trade) for group in groups for trade in reversed(group)
    )
    assert coinbase.parse(wire.snapshot_frame([[]], sequence_num=0, timestamp_ns=0), 5).records == ()
    for instrument, trades in by_instrument.items():
        newest_first = [expected_trade(trade) for trade in reversed(trades)]
        exchange = wire.exchange_rest_body(trades)
        assert coinbase.parse_rest_trades(exchange, 5, instrument) == newest_first
        first = json.loads(exchange)[0]
        assert first["trade_id"] == trades[-1].trade_id and first["price"] == trades[-1].price_text
        assert first["side"] == ("sell" if trades[-1].side == "buy" else "buy")
        assert coinbase.parse_rest_trades(wire.advanced_rest_body(trades), 5, instrument) == newest_first


def test_control_frames_and_times() -> None:
    ack = wire.subscriptions_frame(
        {"market_trades": ["ETH-USD", "BTC-USD"], "heartbeats": ["heartbeats"], "level2": []},
        sequence_num=3,
        timestamp_ns=0,
    )
    assert coinbase.parse(ack, 0).control == "ack"
    assert json.loads(ack)["events"] == [
        {"subscriptions": {"heartbeats": ["heartbeats"], "market_trades": ["BTC-USD", "ETH-USD"]}}
    ]
    assert coinbase.sequence_of(ack) == coinbase.FrameSequence("connection", 3, True)
    beat = wire.heartbeat_frame(
        counter=21697, sequence_num=4, timestamp_ns=1_790_736_000_057_778_606, monotonic_ns=21_697_195_984_854
    )
    assert coinbase.parse(beat, 0).control == "heartbeat"
    (event,) = json.loads(beat)["events"]
    assert event == {
        "current_time": "2026-09-30 02:40:00.057778606 +0000 UTC m=+21697.195984854",
        "heartbeat_counter": 21697,
    }
    error = wire.error_frame("failure to subscribe")
    assert json.loads(error) == {"type": "error", "message": "failure to subscribe"}
    assert coinbase.parse(error, 0).control == "error" and coinbase.sequence_of(error) is None
    for ns, text in [
        (0, "1970-01-01T00:00:00Z"),
        (1_790_736_000_000_000_000, "2026-09-30T02:40:00Z"),
        (1_790_736_000_100_000_000, "2026-09-30T02:40:00.1Z"),
        (1_790_736_000_788_655_130, "2026-09-30T02:40:00.78865513Z"),
        (1_790_736_000_000_000_001, "2026-09-30T02:40:00.000000001Z"),
    ]:
        assert wire.rfc3339nano(ns) == text
        assert coinbase.iso8601_to_ns(text) == ns
    assert wire.micros_iso(1_790_736_000_100_000_999) == "2026-09-30T02:40:00.100000Z"
    assert [wire.trim_decimal(t) for t in ("65000.01000000", "1.00000000", "0.00100000", "12")] == [
        "65000.01",
        "1",
        "0.001",
        "12",
    ]


def test_ground_truth_line_is_what_the_parser_reads() -> None:
    sim = CoinbaseSim(sim_settings())
    for trade in wire_tape()[:100]:
        if trade.instrument not in INSTRUMENTS:
            continue
        line = json.loads(sim.ground_truth_line(trade, "market_trades"))
        (parsed,) = coinbase.parse(wire.market_trades_frame([trade], sequence_num=0, timestamp_ns=0), 5).records
        assert line == {
            "venue": "coinbase",
            "instrument": parsed.instrument,
            "symbol": parsed.symbol,
            "trade_id": parsed.trade_id,
            "price": str(parsed.price),
            "size": str(parsed.size),
            "side": parsed.side,
            "ts_event": parsed.ts_event,
            "sent": True,
        }


# --- the server ----------------------------------------------------------------------------------


def test_subscribe_ack_snapshot_then_the_seeded_tape_with_per_connection_sequence_numbers() -> None:
    settings = sim_settings(sim_rate=250.0)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["coinbase"]) as sim, connect(sim.url("coinbase")) as ws:
            assert not sim.venues["coinbase"].trades_sent  # nothing trades before a subscription
            await ws.send(coinbase.subscribe_message(INSTRUMENTS, "market_trades"))
            ack = await recv_json(ws)  # the ack comes first
            assert ack["channel"] == "subscriptions" and ack["sequence_num"] == 0
            assert ack["events"] == [{"subscriptions": {"market_trades": ["BTC-USD", "ETH-USD"]}}]
            snapshot = await recv_json(ws)  # then the (still empty) snapshot of both products
            assert snapshot["sequence_num"] == 1
            assert snapshot["events"] == [{"type": "snapshot", "trades": []}] * 2
            reference = Market(settings.sim_seed, INSTRUMENTS)
            sequence = 2
            for _ in range(200):
                raw = await ws.recv()
                assert coinbase.sequence_of(raw) == coinbase.FrameSequence("connection", sequence, True)
                sequence += 1
                (trade,) = coinbase.parse(raw, 5).records
                assert isinstance(trade, Trade)
                expected = reference.next_trade(trade.instrument, 0)
                assert trade == expected_trade(expected._replace(ts_ms=trade.ts_event // 1_000_000))
                assert abs(trade.ts_event - time.time_ns()) < 60 * 10**9
            # heartbeats: acked with every subscription, then one frame a second, counter +1 each
            await ws.send(coinbase.subscribe_message([], "heartbeats"))
            beats: list[dict[str, Any]] = []
            acks: list[dict[str, Any]] = []
            while len(beats) < 2:
                message = await recv_json(ws)
                assert message["sequence_num"] == sequence
                sequence += 1
                if message["channel"] == "heartbeats":
                    beats.append(message)
                elif message["channel"] == "subscriptions":
                    acks.append(message)
            assert [a["events"][0]["subscriptions"] for a in acks] == [
                {"heartbeats": ["heartbeats"], "market_trades": ["BTC-USD", "ETH-USD"]}
            ]
            counters = [beat["events"][0]["heartbeat_counter"] for beat in beats]
            assert counters[1] == counters[0] + 1
            assert re.fullmatch(
                r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC m=\+\d+\.\d{9}",
                beats[0]["events"][0]["current_time"],
            )
            # unsubscribing ETH-USD: acked with what remains; no ETH-USD trade follows the ack
            await ws.send(coinbase.unsubscribe_message(["ETH-USD"], "market_trades"))
            while (message := await recv_json(ws))["channel"] != "subscriptions":
                assert message["sequence_num"] == sequence
                sequence += 1
            assert message["events"][0]["subscriptions"] == {"heartbeats": ["heartbeats"], "market_trades": ["BTC-USD"]}
            for _ in range(50):
                message = await recv_json(ws)
                if message["channel"] == "market_trades":
                    assert {t["product_id"] for t in message["events"][0]["trades"]} == {"BTC-USD"}

    run(scenario)


def test_bad_requests_get_error_frames_and_change_nothing() -> None:
    async def scenario() -> None:
        async with (
            open_simulator(sim_settings(), port=0, venues=["coinbase"]) as sim,
            connect(sim.url("coinbase")) as ws,
        ):
            requests: list[str | bytes] = [
                "not json",
                b"\xff\xfe",
                "[1, 2]",
                json.dumps({"type": "frob", "product_ids": ["BTC-USD"], "channel": "market_trades"}),
                json.dumps({"product_ids": ["BTC-USD"], "channel": "market_trades"}),
                json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "level3"}),
                json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["market_trades"]}),
                json.dumps({"type": "subscribe", "product_ids": ["DOGE-USD"], "channel": "market_trades"}),
                json.dumps({"type": "subscribe", "product_ids": ["BTC-USD", "XRP-USD"], "channel": "market_trades"}),
                json.dumps({"type": "subscribe", "channel": "market_trades"}),
                json.dumps({"type": "subscribe", "product_ids": "BTC-USD", "channel": "market_trades"}),
                json.dumps({"type": "subscribe", "product_ids": [1], "channel": "market_trades"}),
                json.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "market_trades", "jwt": 5}),
            ]
            messages = []
            for request in requests:
                await ws.send(request)
                reply = await ws.recv()
                assert coinbase.parse(reply, 0).control == "error", (request, reply)
                assert coinbase.sequence_of(reply) is None
                messages.append(json.loads(reply)["message"])
            assert all(message.startswith("failure to subscribe") for message in messages[5:])
            assert "DOGE-USD" in messages[7] and "XRP-USD" in messages[8]
            assert not sim.venues["coinbase"].trades_sent  # nothing was subscribed
            # errors take no sequence number; a valid request (with a jwt) works afterwards
            await ws.send(coinbase.subscribe_message(["ETH-USD"], "market_trades", jwt="header.payload.signature"))
            ack = await recv_json(ws)
            assert ack["channel"] == "subscriptions" and ack["sequence_num"] == 0
            assert ack["events"][0]["subscriptions"] == {"market_trades": ["ETH-USD"]}
            snapshot = await recv_json(ws)
            assert snapshot["sequence_num"] == 1
            frame = await ws.recv()
            assert {t.instrument for t in coinbase.parse(frame, 0).records} == {"ETH-USD"}

    run(scenario)


def test_unknown_paths_are_refused_with_404_and_the_root_is_the_websocket() -> None:
    async def scenario() -> None:
        async with open_simulator(sim_settings(), port=0, venues=["coinbase"]) as sim:
            base = f"ws://127.0.0.1:{sim.port}"
            for path in ["/", "/coinbase/ws", "/coinbase/nope", "/coinbase/products", "/coinbasex", "/binance/ws"]:
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(base + path):
                        pass
                assert refused.value.response.status_code == 404, path
            for path in ["/coinbase", "/coinbase/"]:
                async with connect(base + path) as ws:
                    assert (await subscribe(ws, [], "heartbeats"))["sequence_num"] == 0
            status, _, body = await asyncio.to_thread(http_get, f"{sim.rest_url('coinbase')}/products/BTC-USD/candles")
            assert status == 404 and b"no such endpoint" in body

    run(scenario)


def test_a_connection_that_does_not_subscribe_in_time_is_closed() -> None:
    async def scenario() -> None:
        async with open_simulator(sim_settings(), port=0, venues=["coinbase"]) as sim:
            sim.venues["coinbase"].subscribe_deadline = 0.3  # type: ignore[attr-defined]
            async with connect(sim.url("coinbase")) as idle, connect(sim.url("coinbase")) as active:
                await subscribe(active, [], "heartbeats")
                with pytest.raises(ConnectionClosed):
                    await idle.recv()
                assert idle.close_code == 1000
                beat = await recv_json(active)  # a second later: still open
                assert beat["channel"] == "heartbeats"

    run(scenario)


def test_rest_history_pages_newest_first_with_cursors() -> None:
    settings = sim_settings(sim_rate=300.0, sim_max_trades=300)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["coinbase"]) as sim:
            await run_until_exhausted(sim, INSTRUMENTS)
            venue = sim.venues["coinbase"]
            base = sim.rest_url("coinbase")
            history = venue.trades_from("BTC-USD")
            ids = [trade.trade_id for trade in history]
            assert ids == list(range(ids[0], ids[0] + len(ids))) and len(ids) >= 100

            def page(query: str, product: str = "BTC-USD") -> tuple[int, dict[str, str], Any]:
                status, headers, body = http_get(f"{base}/products/{product}/trades?{query}")
                return status, headers, json.loads(body)

            status, headers, latest = await asyncio.to_thread(page, "limit=40")
            assert status == 200 and [t["trade_id"] for t in latest] == ids[::-1][:40]
            assert (headers["CB-BEFORE"], headers["CB-AFTER"]) == (str(ids[-1]), str(ids[-40]))
            _, older_headers, older = await asyncio.to_thread(page, f"limit=40&after={headers['CB-AFTER']}")
            assert [t["trade_id"] for t in older] == ids[::-1][40:80]
            _, _, newer = await asyncio.to_thread(page, f"limit=40&before={older_headers['CB-BEFORE']}")
            assert newer == latest  # the page right above
            _, _, everything = await asyncio.to_thread(page, "")  # default limit 1000 > all
            assert [t["trade_id"] for t in everything] == ids[::-1]
            _, empty_headers, empty = await asyncio.to_thread(page, f"after={ids[0]}")
            assert empty == [] and "CB-AFTER" not in empty_headers
            # the request builder and parser of the venue module, through the REST transport
            path, params = coinbase.rest_trades_request("BTC-USD", older_than=ids[50], limit=10)
            body = await asyncio.to_thread(rest.get, base, path, params)
            assert coinbase.parse_rest_trades(body, 5, "BTC-USD") == [
                expected_trade(trade) for trade in reversed(history[40:50])
            ]
            for query, status_expected in [("limit=0", 400), ("limit=1001", 400), ("after=abc", 400), ("", 404)]:
                product = "DOGE-USD" if status_expected == 404 else "BTC-USD"
                status, _, document = await asyncio.to_thread(page, query, product)
                assert status == status_expected and isinstance(document["message"], str), query
            assert (await asyncio.to_thread(page, "", "DOGE-USD"))[2] == {"message": "NotFound"}
            # Advanced Trade market trades: the latest `limit` trades of a time window, newest first
            start_ns, end_ns = history[10].ts_ms * 10**6, history[60].ts_ms * 10**6
            path, params = coinbase.rest_market_trades_request("BTC-USD", start_ns=start_ns, end_ns=end_ns, limit=5)
            body = await asyncio.to_thread(rest.get, base, path, params)
            window = [t for t in history if int(params["start"]) * 1000 <= t.ts_ms <= int(params["end"]) * 1000]
            assert coinbase.parse_rest_trades(body, 5, "BTC-USD") == [expected_trade(t) for t in window[::-1][:5]]
            status, _, missing = await asyncio.to_thread(
                http_get, f"{base}/api/v3/brokerage/market/products/DOGE-USD/ticker"
            )
            assert status == 404 and json.loads(missing)["error"] == "NOT_FOUND"

    run(scenario)


def test_max_trades_and_ground_truth(tmp_path: Path) -> None:
    truth = tmp_path / "truth" / "coinbase.jsonl"
    settings = sim_settings(sim_rate=150.0, sim_max_trades=60, sim_ground_truth=truth)

    async def scenario() -> list[Trade]:
        async with open_simulator(settings, port=0, venues=["coinbase"]) as sim:
            frames = await run_until_exhausted(sim, INSTRUMENTS)
            assert sim.venues["coinbase"].trades_sent == 60 and sim.venues["coinbase"].exhausted
            return [r for frame in frames for r in coinbase.parse(frame, 5).records if isinstance(r, Trade)]

    received = run(scenario)
    lines = [json.loads(line) for line in truth.read_text().splitlines()]
    assert len(received) == len(lines) == 60
    assert all(line["sent"] for line in lines)
    assert {(t.symbol, t.trade_id, t.price, t.size, t.side, t.ts_event) for t in received} == {
        (
            line["symbol"],
            line["trade_id"],
            Decimal(line["price"]),
            Decimal(line["size"]),
            line["side"],
            line["ts_event"],
        )
        for line in lines
    }


def test_resubscription_snapshot_holds_the_latest_trades_newest_first() -> None:
    settings = sim_settings(sim_rate=300.0, sim_max_trades=160)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["coinbase"]) as sim:
            await run_until_exhausted(sim, INSTRUMENTS)
            history = sim.venues["coinbase"].trades_from("BTC-USD")
            assert len(history) > SNAPSHOT_TRADES
            async with connect(sim.url("coinbase")) as ws:
                ack = await subscribe(ws, ["BTC-USD"])
                assert ack["sequence_num"] == 0
                snapshot = await ws.recv()
                assert coinbase.sequence_of(snapshot) == coinbase.FrameSequence("connection", 1, True)
                assert coinbase.parse(snapshot, 5).records == tuple(
                    expected_trade(trade) for trade in reversed(history[-SNAPSHOT_TRADES:])
                )

    run(scenario)


# --- faults --------------------------------------------------------------------------------------


def test_skipped_trades_are_trade_id_gaps_for_the_feed_with_contiguous_sequence_numbers(tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    settings = sim_settings(sim_rate=300.0, sim_max_trades=200, sim_skip_every=7, sim_ground_truth=truth)

    async def scenario() -> tuple[list[str], dict[str, list[int]]]:
        async with open_simulator(settings, port=0, venues=["coinbase"]) as sim:
            frames = await run_until_exhausted(sim, INSTRUMENTS)
            venue = sim.venues["coinbase"]
            assert venue.trades_skipped == 200 // 7
            history = {i: [t.trade_id for t in venue.trades_from(i)] for i in INSTRUMENTS}
            return frames, history

    frames, history = run(scenario)
    assert [coinbase.sequence_of(frame).sequence for frame in frames] == list(range(len(frames)))  # type: ignore[union-attr]
    tracker = SequenceTracker()
    missing: set[tuple[str, int]] = set()
    delivered: set[tuple[str, int]] = set()
    for frame in frames:
        for stream, number in trade_ids(coinbase.parse(frame, 5)):
            delivered.add((stream, number))
            seen = tracker.observe(stream, number)
            if seen.outcome == "gap":
                assert seen.missing_from is not None and seen.missing_to is not None
                missing |= {(stream, n) for n in range(seen.missing_from, seen.missing_to + 1)}
    expected = set()
    for instrument, ids in history.items():
        stream = f"trades:{instrument}"
        shown = [n for n in ids if (stream, n) in delivered]
        expected |= {(stream, n) for n in range(min(shown), max(shown) + 1)} - delivered
    assert missing == expected and len(missing) >= 20
    lines = [json.loads(line) for line in truth.read_text().splitlines()]
    lost = {(f"trades:{line['symbol']}", int(line["trade_id"])) for line in lines if not line["sent"]}
    assert missing <= lost and len(lost) == 200 // 7


def test_duplicated_frames_repeat_with_their_sequence_number_and_malformed_frames_are_rejected() -> None:
    settings = sim_settings(sim_rate=300.0, sim_max_trades=120, sim_duplicate_every=10, sim_malformed_every=15)

    async def scenario() -> tuple[list[str], int, int]:
        async with open_simulator(settings, port=0, venues=["coinbase"]) as sim:
            frames = await run_until_exhausted(sim, INSTRUMENTS)
            return frames, sim.venues["coinbase"].duplicates_sent, sim.venues["coinbase"].malformed_sent

    frames, duplicates, malformed = run(scenario)
    assert duplicates == 12 and malformed == 8
    rejected = 0
    repeats = 0
    sequences = []
    for index, frame in enumerate(frames):
        try:
            coinbase.parse(frame, 5)
        except ParseError:
            rejected += 1
            assert frames[index - 1].startswith(frame)  # half of the frame before it
            continue
        number = coinbase.sequence_of(frame).sequence  # type: ignore[union-attr]
        if sequences and number == sequences[-1]:
            repeats += 1
            assert frame == frames[index - 1]  # the very same text
        sequences.append(number)
    assert rejected == malformed and repeats == duplicates
    assert sorted(set(sequences)) == list(range(len(set(sequences))))

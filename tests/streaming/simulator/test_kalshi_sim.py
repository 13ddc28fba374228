"""The Kalshi simulator: Kalshi's signed handshake, commands, trade frames, seq numbers and REST history, on the
real server, read back with the real parser."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import functools
import itertools
import json
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from testkit import run_bounded, simulator_settings
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode

from contracts.records import Trade
from streaming import rest
from streaming.errors import ParseError, StreamingError
from streaming.feeds.kalshi import feed
from streaming.feeds.kalshi_keys import DEV_KEY_ID, generate_private_key, resolve_key
from streaming.gaps import SequenceTracker
from streaming.simulator import kalshi_wire
from streaming.simulator.kalshi import KalshiSim
from streaming.simulator.market import Market, SimTrade, iter_trades
from streaming.simulator.server import SimulatorHandle, open_simulator
from streaming.venues import kalshi
from ticklake.settings import Settings

BTC, ETH, FED = "KXBTCD-26NOV2117-T95999.99", "KXETHD-26NOV2117-T3499.99", "FED-23DEC-T3.00"
INSTRUMENTS = [f"KALSHI:{ticker}" for ticker in (BTC, ETH, FED)]
TIMEOUT = 20.0
NS = 1_000_000_000


run = functools.partial(run_bounded, timeout=TIMEOUT)


sim_settings = functools.partial(simulator_settings, "kalshi", INSTRUMENTS, seed=7, rate=200.0, alone=True)


def signed(settings: Settings, *, timestamp_ms: int | None = None, path: str = kalshi.WS_PATH) -> dict[str, str]:
    key_id, pem = resolve_key(settings)
    return kalshi.auth_headers(key_id, pem, timestamp_ms or time.time_ns() // 1_000_000, path)


def ws_url(sim: SimulatorHandle) -> str:
    return sim.url("kalshi") + kalshi.WS_PATH


def subscribe(request_id: int, *tickers: str, channels: tuple[str, ...] = ("trade",)) -> str:
    return kalshi.subscribe_message(list(channels), list(tickers), request_id)


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    value = json.loads(await ws.recv())
    assert isinstance(value, dict)
    return value


async def reply_to(ws: ClientConnection, request_id: int, trades: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The reply to a command, skipping (or collecting) the trade frames before it."""
    while True:
        message = await recv_json(ws)
        if message.get("type") == "trade":
            if trades is not None:
                trades.append(message)
            continue
        assert message.get("id") == request_id, message
        return message


def expected_trade(trade: SimTrade, received_at: int) -> Trade:
    ticker = kalshi.to_symbol(trade.instrument)
    return Trade(
        venue="kalshi",
        instrument=trade.instrument,
        symbol=ticker,
        trade_id=kalshi_wire.trade_id_of(trade),
        price=trade.price,
        size=trade.size,
        side=trade.side,
        ts_event=trade.ts_ms // 1000 * NS,
        ts_recv=received_at,
    )


# --- wire format -----------------------------------------------------------------------------------


def test_rendered_trades_parse_back_to_the_tape() -> None:
    tape = list(iter_trades(11, INSTRUMENTS, range(1_790_000_000_000, 1_790_000_090_000, 300)))
    assert len(tape) == 300
    assert {t.side for t in tape} == {"buy", "sell"}
    for seq, trade in enumerate(tape, start=1):
        frame = kalshi_wire.trade_frame(trade, 4, seq)
        parsed = kalshi.parse(frame, 5)
        assert parsed.channel == "trade" and parsed.control is None
        (record,) = parsed.records
        assert isinstance(record, Trade)
        assert record == expected_trade(trade, 5)
        assert str(record.price) == kalshi_wire.dollars(kalshi_wire.cents_of(trade))  # "0.3600": 4 decimals
        assert str(record.size) == f"{int(trade.size)}.00"
        assert kalshi.envelope(frame) == kalshi.Envelope("trade", 4, seq, None)
        truth = kalshi_wire.truth_of(trade)
        assert (truth.trade_id, truth.price, truth.size, truth.ts_event) == (
            record.trade_id,
            record.price,
            record.size,
            record.ts_event,
        )
        message = json.loads(frame)["msg"]
        assert uuid.UUID(message["trade_id"]).version == 5
        assert message["yes_price"] + message["no_price"] == 100
        assert message["taker_outcome_side"] == ("yes" if trade.side == "buy" else "no")
        assert message["ts"] == trade.ts_ms // 1000 and "ts_ms" not in message
    for instrument in INSTRUMENTS:  # the REST copy: same id, price, size and side; created_time in ms
        own = [t for t in tape if t.instrument == instrument]
        body = json.dumps(kalshi_wire.rest_page(own[::-1], None)).encode()
        trades, cursor = kalshi.parse_rest_trades(body, 9, instrument)
        assert cursor is None
        assert [(t.trade_id, t.price, t.size, t.side, t.ts_event) for t in trades] == [
            (kalshi_wire.trade_id_of(s), s.price, s.size, s.side, s.ts_ms * 1_000_000) for s in own[::-1]
        ]
    assert len({kalshi_wire.trade_id_of(t) for t in tape}) == len(tape)


def test_replies_parse_as_controls_and_carry_seq() -> None:
    assert kalshi.parse(kalshi_wire.subscribed(1, "trade", 3), 0).control == "ack"
    unsubscribed = kalshi_wire.unsubscribed(2, 3, 17)
    assert kalshi.parse(unsubscribed, 0).control == "ack"
    assert kalshi.subscription_sequence(unsubscribed) == (3, 17)
    updated = kalshi_wire.updated(4, 3, 18, [BTC])
    assert kalshi.parse(updated, 0).control == "ack" and kalshi.subscription_sequence(updated) == (3, 18)
    assert kalshi.parse(kalshi_wire.subscription_list(5, [("trade", 3)]), 0).control == "ack"
    for code, text in kalshi_wire.ERRORS.items():
        frame = kalshi_wire.error(6, code)
        assert kalshi.parse(frame, 0).control == "error"
        assert json.loads(frame) == {"id": 6, "type": "error", "msg": {"code": code, "msg": text}}
    assert "id" not in json.loads(kalshi_wire.error(None, 1, "invalid JSON"))
    assert kalshi.parse(kalshi_wire.HEARTBEAT, 0).control == "heartbeat"


def test_history_pages_walk_newest_first_with_cursors_and_time_filters() -> None:
    tape = list(iter_trades(5, INSTRUMENTS[:2], range(1_790_000_000_000, 1_790_000_020_000, 250)))
    histories = [[t for t in tape if t.instrument == i] for i in INSTRUMENTS[:2]]
    newest_first = sorted(tape, key=kalshi_wire.history_key, reverse=True)

    def walk(**window: int | None) -> list[SimTrade]:
        found: list[SimTrade] = []
        before = None
        while True:
            page, before = kalshi_wire.history_page(histories, before=before, limit=7, **window)
            assert len(page) <= 7
            found += page
            if before is None:
                return found
            assert kalshi_wire.decode_cursor(kalshi_wire.encode_cursor(before)) == before

    assert walk(min_ts=None, max_ts=None) == newest_first
    low, high = 1_790_000_004, 1_790_000_011
    assert walk(min_ts=low, max_ts=high) == [t for t in newest_first if low * 1000 < t.ts_ms < high * 1000]
    assert walk(min_ts=high, max_ts=low) == []
    for garbage in ("", "nope", base64.urlsafe_b64encode(b"12:x:KALSHI:A").decode()):
        with pytest.raises(ValueError):
            kalshi_wire.decode_cursor(garbage)


# --- the server ------------------------------------------------------------------------------------


def test_handshake_without_a_valid_signature_is_refused_with_401() -> None:
    settings = sim_settings()

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["kalshi"]) as sim:
            now = time.time_ns() // 1_000_000
            good = signed(settings)
            stranger = kalshi.auth_headers(DEV_KEY_ID, generate_private_key(), now)
            refused: dict[str, dict[str, str]] = {
                "no headers": {},
                "no signature": {k: v for k, v in good.items() if k != "KALSHI-ACCESS-SIGNATURE"},
                "another key": stranger,
                "unknown key id": {**good, "KALSHI-ACCESS-KEY": "someone-else"},
                "stale timestamp": signed(settings, timestamp_ms=now - 120_000),
                "future timestamp": signed(settings, timestamp_ms=now + 120_000),
                "other path signed": signed(settings, path=kalshi.REST_TRADES_PATH),
                "timestamp not signed": {**good, "KALSHI-ACCESS-TIMESTAMP": str(now + 1)},
                "timestamp not a number": {**good, "KALSHI-ACCESS-TIMESTAMP": "soon"},
                "timestamp absurd": {**good, "KALSHI-ACCESS-TIMESTAMP": "9" * 5000},
                "signature not base64": {**good, "KALSHI-ACCESS-SIGNATURE": "%%%"},
            }
            for case, headers in refused.items():
                with pytest.raises(InvalidStatus) as refusal:
                    async with connect(ws_url(sim), additional_headers=headers):
                        pass
                assert refusal.value.response.status_code == 401, case
                assert json.loads(refusal.value.response.body)["error"]["code"] == "authentication_error", case
            async with connect(ws_url(sim), additional_headers=signed(settings)) as ws:
                await ws.send(subscribe(1, BTC))
                assert await recv_json(ws) == {"id": 1, "type": "subscribed", "msg": {"channel": "trade", "sid": 1}}
            async with connect(ws_url(sim) + "?client=x", additional_headers=signed(settings)) as ws:
                await ws.send(json.dumps({"id": 1, "cmd": "list_subscriptions"}))
                assert await recv_json(ws) == {"id": 1, "type": "ok", "msg": []}

    run(scenario)


def test_unknown_paths_are_refused_with_404() -> None:
    settings = sim_settings()

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["kalshi"]) as sim:
            base = f"ws://127.0.0.1:{sim.port}"
            for path in ("/kalshi", "/kalshi/trade-api/ws/v1", "/kalshi/ws/v2", "/nope/trade-api/ws/v2", "/"):
                with pytest.raises(InvalidStatus) as refusal:
                    async with connect(base + path, additional_headers=signed(settings)):
                        pass
                assert refusal.value.response.status_code == 404, path
            assert not sim.venues["kalshi"].trades_sent

    run(scenario)


def test_subscriptions_stream_the_seeded_tape_with_seq_per_sid() -> None:
    settings = sim_settings(sim_rate=300.0)

    async def scenario() -> list[tuple[dict[str, Any], Trade]]:
        async with (
            open_simulator(settings, port=0, venues=["kalshi"]) as sim,
            connect(ws_url(sim), additional_headers=signed(settings)) as ws,
        ):
            assert not sim.venues["kalshi"].trades_sent  # nothing trades before a subscription
            await ws.send(subscribe(1, BTC))
            assert await recv_json(ws) == {"id": 1, "type": "subscribed", "msg": {"channel": "trade", "sid": 1}}
            await ws.send(subscribe(2, ETH, FED, channels=("ticker", "trade")))  # one sid per channel
            early: list[dict[str, Any]] = []
            acks = [await reply_to(ws, 2, early), await reply_to(ws, 2, early)]
            assert [ack["msg"] for ack in acks] == [{"channel": "ticker", "sid": 2}, {"channel": "trade", "sid": 3}]
            messages: list[str | bytes] = [json.dumps(m) for m in early]
            while len(messages) < 240:
                messages.append(await ws.recv())
            received = []
            for message in messages:
                (trade,) = kalshi.parse(message, time.time_ns()).records
                assert isinstance(trade, Trade)
                received.append((json.loads(message), trade))
            return received

    received = run(scenario)
    reference = Market(settings.sim_seed, INSTRUMENTS)
    for _, trade in received:  # exactly the seeded tape, in order, per instrument
        expected = expected_trade(reference.next_trade(trade.instrument, 0), trade.ts_recv)
        assert trade == dataclasses.replace(expected, ts_event=trade.ts_event)  # times come from the wall clock
    seqs: dict[int, list[int]] = defaultdict(list)
    markets: dict[int, set[str]] = defaultdict(set)
    for message, trade in received:
        seqs[message["sid"]].append(message["seq"])
        markets[message["sid"]].add(trade.symbol)
        assert abs(trade.ts_event - time.time_ns()) < 60 * NS
    assert markets == {1: {BTC}, 3: {ETH, FED}}
    for numbers in seqs.values():  # per sid, across its markets, from 1 without a hole
        assert numbers == list(range(1, len(numbers) + 1))


def test_bad_commands_get_kalshi_error_frames() -> None:
    settings = sim_settings()
    bad: list[tuple[str, int | None, int]] = [
        ("not json", None, 1),
        (json.dumps([1, 2]), None, 1),
        (json.dumps({"id": "x", "cmd": "subscribe", "params": {"channels": ["trade"]}}), None, 1),
        (json.dumps({"id": 1, "cmd": "frobnicate", "params": {}}), 1, 5),
        (json.dumps({"id": 2, "cmd": "subscribe"}), 2, 2),
        (json.dumps({"id": 3, "cmd": "subscribe", "params": {}}), 3, 3),
        (json.dumps({"id": 4, "cmd": "subscribe", "params": {"channels": ["trades"]}}), 4, 8),
        (subscribe(5, "NOPE-26NOV"), 5, 16),
        (subscribe(6, BTC, "NOPE-26NOV"), 6, 16),
        (json.dumps({"id": 7, "cmd": "unsubscribe", "params": {}}), 7, 4),
        (kalshi.unsubscribe_message([99], 8), 8, 7),
        (json.dumps({"id": 9, "cmd": "update_subscription", "params": {"sids": [1, 2]}}), 9, 12),
        (json.dumps({"id": 10, "cmd": "update_subscription", "params": {"sids": [1]}}), 10, 15),
        (kalshi.snapshot_request_message(1, [BTC], 11), 11, 13),
        (
            json.dumps({"id": 12, "cmd": "update_subscription", "params": {"sids": [1], "action": "add_markets"}}),
            12,
            14,
        ),
    ]

    async def scenario() -> None:
        async with (
            open_simulator(settings, port=0, venues=["kalshi"]) as sim,
            connect(ws_url(sim), additional_headers=signed(settings)) as ws,
        ):
            for request, request_id, code in bad:
                await ws.send(request)
                reply = await ws.recv()
                assert kalshi.parse(reply, 0).control == "error", request
                message = json.loads(reply)
                assert message.get("id") == request_id and message["msg"]["code"] == code, (request, message)
            assert not sim.venues["kalshi"].trades_sent  # no bad command subscribed anything

            sid_frames: list[dict[str, Any]] = []  # every frame of sid 1, in order
            await ws.send(subscribe(20, BTC))
            assert (await reply_to(ws, 20))["msg"] == {"channel": "trade", "sid": 1}
            await ws.send(subscribe(21, BTC))  # the market is taken on this channel
            assert (await reply_to(ws, 21, sid_frames))["msg"]["code"] == 6
            await ws.send(json.dumps({"id": 22, "cmd": "list_subscriptions"}))
            assert (await reply_to(ws, 22, sid_frames))["msg"] == [{"channel": "trade", "sid": 1}]
            update = {"sids": [1], "action": "add_markets", "market_tickers": [ETH]}
            await ws.send(json.dumps({"id": 23, "cmd": "update_subscription", "params": update}))
            ok = await reply_to(ws, 23, sid_frames)
            assert ok["type"] == "ok" and ok["sid"] == 1 and ok["msg"] == {"market_tickers": [BTC, ETH]}
            sid_frames.append(ok)
            while not any(m["msg"]["market_ticker"] == ETH for m in sid_frames if m["type"] == "trade"):
                sid_frames.append(await recv_json(ws))
            await ws.send(kalshi.unsubscribe_message([1], 24))
            unsubscribed = await reply_to(ws, 24, sid_frames)
            assert unsubscribed["type"] == "unsubscribed" and unsubscribed["sid"] == 1
            sid_frames.append(unsubscribed)
            # Trades, the ok and the unsubscribed reply share the sid's numbering, without a hole.
            assert [m["seq"] for m in sid_frames] == list(range(1, len(sid_frames) + 1))
            await ws.send(json.dumps({"id": 25, "cmd": "list_subscriptions"}))
            assert await recv_json(ws) == {"id": 25, "type": "ok", "msg": []}  # and no trade after unsubscribing
            await ws.send(kalshi.unsubscribe_message([1], 26))
            assert (await recv_json(ws))["msg"]["code"] == 7

    run(scenario)


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with contextlib.closing(error):  # close its socket now: the server waits for open connections on exit
            return error.code, json.loads(error.read())


def test_rest_history_pages_every_generated_trade() -> None:
    settings = sim_settings(sim_rate=300.0, sim_max_trades=150, sim_skip_every=6)

    async def scenario() -> tuple[dict[str, list[SimTrade]], list[Trade], dict[str, list[Trade]]]:
        async with (
            open_simulator(settings, port=0, venues=["kalshi"]) as sim,
            connect(ws_url(sim), additional_headers=signed(settings)) as ws,
        ):
            await ws.send(subscribe(1, BTC, ETH, FED))
            await reply_to(ws, 1)
            await asyncio.wait_for(sim.tasks["kalshi"], TIMEOUT)
            frames: list[dict[str, Any]] = []
            await ws.send(json.dumps({"id": 2, "cmd": "list_subscriptions"}))
            await reply_to(ws, 2, frames)
            live = [t for m in frames for t in kalshi.parse(json.dumps(m), 0).records if isinstance(t, Trade)]
            venue = sim.venues["kalshi"]
            history = {i: venue.trades_from(i) for i in INSTRUMENTS}

            def walk(instrument: str) -> list[Trade]:
                found: list[Trade] = []
                cursor = None
                while True:
                    path, params = kalshi.rest_trades_request(instrument, cursor, None, limit=9)
                    body = rest.get(sim.rest_url("kalshi"), path, params)
                    page, cursor = kalshi.parse_rest_trades(body, 1, instrument)
                    found += page
                    if cursor is None:
                        return found

            walked = {i: await asyncio.to_thread(walk, i) for i in INSTRUMENTS}
            return history, live, walked

    history, live, walked = run(scenario)
    assert sum(map(len, history.values())) == 150
    assert len(live) == 125  # every 6th trade was never sent...
    for instrument, trades in walked.items():  # ...yet the history has them all, newest first
        assert [t.trade_id for t in trades] == [kalshi_wire.trade_id_of(s) for s in history[instrument][::-1]]
        newest_first = history[instrument][::-1]
        assert [(t.price, t.size, t.side) for t in trades] == [(s.price, s.size, s.side) for s in newest_first]
    rest_copy = {t.trade_id: t for trades in walked.values() for t in trades}
    for trade in live:  # the WebSocket and REST copies are the same trade
        copy = rest_copy[trade.trade_id]
        assert (copy.symbol, copy.price, copy.size, copy.side) == (trade.symbol, trade.price, trade.size, trade.side)
        assert copy.ts_event // NS * NS == trade.ts_event


def test_rest_filters_and_refusals() -> None:
    settings = sim_settings(sim_rate=400.0, sim_max_trades=130)

    async def scenario() -> tuple[SimulatorHandle, int]:
        async with (
            open_simulator(settings, port=0, venues=["kalshi"]) as sim,
            connect(ws_url(sim), additional_headers=signed(settings)) as ws,
        ):
            await ws.send(subscribe(1, BTC, ETH))
            await reply_to(ws, 1)
            await asyncio.wait_for(sim.tasks["kalshi"], TIMEOUT)
            base = sim.rest_url("kalshi") + kalshi.REST_TRADES_PATH
            all_markets = await asyncio.to_thread(get_json, f"{base}?limit=1000")
            everything = sorted(
                (t for i in INSTRUMENTS for t in sim.venues["kalshi"].trades_from(i)),
                key=kalshi_wire.history_key,
                reverse=True,
            )
            assert all_markets == (200, kalshi_wire.rest_page(everything, None))
            status, default = await asyncio.to_thread(get_json, base)  # 100 per page unless asked
            assert status == 200 and default["trades"] == kalshi_wire.rest_page(everything[:100], None)["trades"]
            assert kalshi_wire.decode_cursor(default["cursor"]) == kalshi_wire.history_key(everything[99])
            status, rest_of = await asyncio.to_thread(get_json, f"{base}?cursor={default['cursor']}")
            assert (status, rest_of) == (200, kalshi_wire.rest_page(everything[100:], None))
            first = everything[-1].ts_ms // 1000
            window = await asyncio.to_thread(get_json, f"{base}?ticker={BTC}&min_ts={first - 1}&max_ts={first + 1}")
            expected = [t for t in everything if t.instrument == INSTRUMENTS[0] and t.ts_ms < (first + 1) * 1000]
            assert window == (200, kalshi_wire.rest_page(expected, None))
            empty = (200, {"trades": [], "cursor": ""})
            assert await asyncio.to_thread(get_json, f"{base}?ticker={BTC}&max_ts={first}") == empty
            assert await asyncio.to_thread(get_json, f"{base}?min_ts={first + 3600}") == empty
            assert await asyncio.to_thread(get_json, f"{base}?ticker=NOPE-1") == empty
            for query in ("limit=0", "limit=1001", "limit=x", "min_ts=-5", "max_ts=1.5", "cursor=bm9wZQ=="):
                status, body = await asyncio.to_thread(get_json, f"{base}?{query}")
                assert status == 400 and body["error"]["code"] == "bad_request", query
            with pytest.raises(StreamingError, match="HTTP 404") as refused:
                await asyncio.to_thread(rest.get, sim.rest_url("kalshi"), "/trade-api/v2/markets/nope", {})
            assert isinstance(refused.value.__cause__, urllib.error.HTTPError)
            refused.value.__cause__.close()
            await ws.send(json.dumps({"id": 2, "cmd": "list_subscriptions"}))
            await reply_to(ws, 2)  # read what was sent: a client that does not read cannot close quickly
            return sim, len(expected)

    sim, in_window = run(scenario)
    assert in_window >= 1 and sim.venues["kalshi"].generated == 130


def test_ground_truth_and_skipped_trades_are_seq_gaps_for_the_feed(tmp_path: Path) -> None:
    truth_file = tmp_path / "truth.jsonl"
    settings = sim_settings(sim_rate=300.0, sim_max_trades=240, sim_skip_every=9, sim_ground_truth=truth_file)

    async def scenario() -> tuple[list[Trade], list[tuple[str, int, int]]]:
        async with open_simulator(settings, port=0, venues=["kalshi"]) as sim:
            kalshi_feed = feed(settings.model_copy(update={"sim_port": sim.port}))
            tracker = SequenceTracker()
            received: list[Trade] = []
            gaps: list[tuple[str, int, int]] = []
            assert kalshi_feed.headers is not None
            async with connect(kalshi_feed.url, additional_headers=kalshi_feed.headers()) as ws:
                assert kalshi_feed.on_connect is not None and kalshi_feed.sequences is not None
                await kalshi_feed.on_connect(ws)
                await asyncio.wait_for(sim.tasks["kalshi"], TIMEOUT)
                await ws.send(json.dumps({"id": 99, "cmd": "list_subscriptions"}))
                while True:
                    message = await ws.recv()
                    parsed = kalshi_feed.parse(message.encode() if isinstance(message, str) else message, 0)
                    for stream, number in kalshi_feed.sequences(parsed):
                        seen = tracker.observe(stream, number)
                        if seen.outcome == "gap":
                            assert seen.missing_from is not None and seen.missing_to is not None
                            gaps.append((stream, seen.missing_from, seen.missing_to))
                    received += [r for r in parsed.records if isinstance(r, Trade)]
                    if json.loads(message).get("id") == 99:
                        return received, gaps

    received, gaps = run(scenario)
    lines = [json.loads(line) for line in truth_file.read_text().splitlines()]
    assert len(lines) == 240
    sent = [line for line in lines if line["sent"]]
    assert len(sent) == 240 - 240 // 9
    assert [(t.symbol, t.trade_id, str(t.price), str(t.size), t.side, t.ts_event) for t in received] == [
        (line["symbol"], line["trade_id"], line["price"], line["size"], line["side"], line["ts_event"]) for line in sent
    ]
    # Each lost trade followed by a delivered one of its market is one missing seq of that market's stream.
    revealed: dict[str, int] = defaultdict(int)
    for index, line in enumerate(lines):
        if not line["sent"] and any(later["sent"] and later["symbol"] == line["symbol"] for later in lines[index:]):
            revealed[f"trade:{line['symbol']}"] += 1
    found: dict[str, int] = defaultdict(int)
    for stream, first, last in gaps:
        found[stream] += last - first + 1
    assert found == revealed and sum(found.values()) >= 20


def test_duplicate_and_malformed_faults() -> None:
    settings = sim_settings(sim_rate=300.0, sim_max_trades=60, sim_duplicate_every=5, sim_malformed_every=7)

    async def scenario() -> tuple[list[str | bytes], KalshiSim]:
        async with (
            open_simulator(settings, port=0, venues=["kalshi"]) as sim,
            connect(ws_url(sim), additional_headers=signed(settings)) as ws,
        ):
            await ws.send(subscribe(1, BTC))
            await ws.send(subscribe(2, ETH))
            await asyncio.wait_for(sim.tasks["kalshi"], TIMEOUT)
            await ws.send(json.dumps({"id": 3, "cmd": "list_subscriptions"}))
            frames: list[str | bytes] = []
            while not frames or frames[-1] != kalshi_wire.subscription_list(3, [("trade", 1), ("trade", 2)]):
                frames.append(await ws.recv())
            venue = sim.venues["kalshi"]
            assert isinstance(venue, KalshiSim)
            return frames, venue

    frames, venue = run(scenario)
    malformed = []
    parsed = []
    for frame in frames:
        try:
            result = kalshi.parse(frame, 0)
        except ParseError:
            malformed.append(frame)
            continue
        if result.control is None:
            parsed.append((frame, result))
    assert len(malformed) == venue.malformed_sent == 60 // 7
    repeats = [a for (a, _), (b, _) in itertools.pairwise(parsed) if a == b]
    assert len(repeats) == venue.duplicates_sent == 60 // 5  # the very same frame, seq included
    tracker = SequenceTracker()
    outcomes = [tracker.observe(*_sid_seq(frame)).outcome for frame, _ in parsed]
    assert outcomes.count("duplicate") == len(repeats) and "gap" not in outcomes
    assert len({r.trade_id for _, p in parsed for r in p.records if isinstance(r, Trade)}) == 60


def _sid_seq(frame: str | bytes) -> tuple[int, int]:
    numbers = kalshi.subscription_sequence(frame)
    assert numbers is not None
    return numbers


class RecordingPings(ClientConnection):
    """A client connection that remembers the Ping frames it receives (and still answers them)."""

    pings: list[bytes]

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame) and event.opcode is Opcode.PING:
            self.pings = [*getattr(self, "pings", []), bytes(event.data)]
        super().process_event(event)


def test_heartbeats_are_ping_frames_with_a_heartbeat_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KalshiSim, "heartbeat_seconds", 0.2)
    settings = sim_settings()

    async def scenario() -> None:
        async with (
            open_simulator(settings, port=0, venues=["kalshi"]) as sim,
            connect(ws_url(sim), additional_headers=signed(settings), create_connection=RecordingPings) as ws,
        ):
            assert isinstance(ws, RecordingPings)
            while len(getattr(ws, "pings", [])) < 2:
                await asyncio.sleep(0.05)
            assert set(ws.pings) == {b"heartbeat"}
            venue = sim.venues["kalshi"]
            assert isinstance(venue, KalshiSim) and venue.heartbeats_sent >= 2
            await ws.send(json.dumps({"id": 1, "cmd": "list_subscriptions"}))
            assert await recv_json(ws) == {"id": 1, "type": "ok", "msg": []}  # pongs kept the connection open

    run(scenario, timeout=10)

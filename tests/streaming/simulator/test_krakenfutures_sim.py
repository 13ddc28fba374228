"""The Kraken Futures (WebSocket v1) simulator: the venue's wire format and protocol on the real server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import functools
import itertools
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from testkit import run_bounded, simulator_settings
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from contracts.records import Trade
from streaming.errors import ParseError
from streaming.feeds.krakenfutures import KrakenFuturesReader
from streaming.gaps import SequenceTracker
from streaming.simulator import krakenfutures_wire as wire
from streaming.simulator.krakenfutures import KrakenFuturesSim, select_executions
from streaming.simulator.market import Market, SimTrade, iter_trades
from streaming.simulator.server import SimulatorHandle, open_simulator
from streaming.venues import krakenfutures

VENUE = "krakenfutures"
INSTRUMENTS = ["BTC-USD-PERP", "ETH-USD-PERP"]
PRODUCTS = ["PF_XBTUSD", "PF_ETHUSD"]
TIMEOUT = 20.0
EXECUTIONS = "/api/history/v3/market/{}/executions"


run = functools.partial(run_bounded, timeout=TIMEOUT)


sim_settings = functools.partial(simulator_settings, VENUE, INSTRUMENTS, seed=5, rate=300.0)


def expected_trade(trade: SimTrade, ts_recv: int) -> Trade:
    """The trade as the tape defines it, independently of the renderer: exact decimals, ms times."""
    return Trade(
        venue=VENUE,
        instrument=trade.instrument,
        symbol={"BTC-USD-PERP": "PF_XBTUSD", "ETH-USD-PERP": "PF_ETHUSD"}[trade.instrument],
        trade_id=wire.uid_of(trade),
        price=Decimal(trade.price_text),
        size=Decimal(trade.size_text),
        side=trade.side,
        ts_event=trade.ts_ms * 1_000_000,
        ts_recv=ts_recv,
    )


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    value = json.loads(await ws.recv())
    assert isinstance(value, dict)
    return value


async def subscribe(ws: ClientConnection, products: list[str] = PRODUCTS) -> None:
    """Read the greeting, subscribe to trades and read the ack and the (empty) snapshots."""
    assert await recv_json(ws) == {"event": "info", "version": 1}
    await ws.send(krakenfutures.subscribe_message("trade", products))
    ack = await ws.recv()
    assert json.loads(ack) == {"event": "subscribed", "feed": "trade", "product_ids": products}
    assert krakenfutures.parse(ack, 0).control == "ack"


async def drain(ws: ClientConnection) -> list[str | bytes]:
    """Everything the venue sent before the answer to a later request (sent after emission ended)."""
    await ws.send(krakenfutures.unsubscribe_message("heartbeat", []))
    frames: list[str | bytes] = []
    while (message := await ws.recv()) != wire.event_message("unsubscribed_failed", "heartbeat"):
        frames.append(message)
    return frames


def truth_key(line: dict[str, Any]) -> tuple[Any, ...]:
    return (line["symbol"], line["trade_id"], Decimal(line["price"]), Decimal(line["size"]), line["side"])


def trade_key(trade: Trade) -> tuple[Any, ...]:
    return (trade.symbol, trade.trade_id, trade.price, trade.size, trade.side)


# --- wire format ---------------------------------------------------------------------------------


def test_wire_renderings_parse_back_to_the_trade() -> None:
    tape = list(iter_trades(9, INSTRUMENTS, range(1_790_000_000_000, 1_790_000_000_400)))
    for trade in tape:
        (parsed,) = krakenfutures.parse(wire.trade_message(trade), 5).records
        assert parsed == expected_trade(trade, 5)
        message = json.loads(wire.trade_message(trade), parse_float=str)
        assert message["seq"] == trade.trade_id and message["type"] == "fill"
        assert message["qty"] == wire.wire_number(trade.size_text)
    for instrument, product in zip(INSTRUMENTS, PRODUCTS, strict=True):
        own = [trade for trade in tape if trade.instrument == instrument]
        assert [b.trade_id - a.trade_id for a, b in itertools.pairwise(own)] == [1] * (len(own) - 1)
        snapshot = wire.snapshot_message(product, own)
        assert [item["seq"] for item in json.loads(snapshot)["trades"]] == [t.trade_id for t in reversed(own)]
        parsed_snapshot = krakenfutures.parse(snapshot, 6)
        assert parsed_snapshot.channel == f"trade:{product}"
        assert list(parsed_snapshot.records) == [expected_trade(trade, 6) for trade in own]
        body = json.dumps(wire.rest_page(own, more=False)).encode()
        assert krakenfutures.parse_rest_trades(body, 7, instrument) == [expected_trade(trade, 7) for trade in own]
    assert len({wire.uid_of(trade) for trade in tape}) == len(tape)
    assert [wire.wire_number(text) for text in ("65000.00000000", "65000.10000000", "0.00020000", "3.5")] == [
        "65000.0",
        "65000.1",
        "0.0002",
        "3.5",
    ]


def test_control_frames_parse_as_the_venue_controls() -> None:
    controls = {
        wire.info_message(): "ack",
        wire.event_message("subscribed", "trade", PRODUCTS): "ack",
        wire.event_message("subscribed", "heartbeat"): "ack",
        wire.event_message("unsubscribed", "trade", PRODUCTS): "ack",
        wire.event_message("subscribed_failed", "trade", ["PF_SOLUSD"]): "error",
        wire.event_message("unsubscribed_failed", "heartbeat"): "error",
        wire.error_message("Json Error"): "error",
        wire.alert_message("Couldn't subscribe to invalid feed"): "error",
        wire.heartbeat_message(1_790_000_000_000): "heartbeat",
    }
    for frame, control in controls.items():
        assert krakenfutures.parse(frame, 0).control == control, frame
    token = wire.continuation_token(next(iter_trades(1, INSTRUMENTS, [1_790_000_000_000])))
    assert wire.read_continuation_token(token)[0] == 1_790_000_000_000
    for bad in ("%%%", base64.b64encode(b"12/x").decode(), base64.b64encode(b"12").decode()):
        with pytest.raises(ValueError):
            wire.read_continuation_token(bad)


def test_ground_truth_line_is_what_the_parser_reads() -> None:
    sim = KrakenFuturesSim(sim_settings())
    for trade in iter_trades(2, INSTRUMENTS, range(1_790_000_000_000, 1_790_000_000_050)):
        line = json.loads(sim.ground_truth_line(trade, "trade"))
        (parsed,) = krakenfutures.parse(sim.render(trade, "trade", None), 0).records  # type: ignore[arg-type]
        assert line == {
            "venue": VENUE,
            "instrument": trade.instrument,
            "symbol": parsed.symbol,
            "trade_id": parsed.trade_id,
            "price": str(parsed.price),
            "size": str(parsed.size),
            "side": parsed.side,
            "ts_event": parsed.ts_event,
            "sent": True,
        }


def test_select_executions_pages_by_time_and_position() -> None:
    tape = list(iter_trades(4, ["BTC-USD-PERP"], [1_000, 1_000, 1_001, 1_002, 1_002, 1_005]))
    page, more = select_executions(tape, since=1_001, before=None, ascending=True, count=2, after=None)
    assert page == tape[2:4] and more
    position = (page[-1].ts_ms, page[-1].trade_id)
    page, more = select_executions(tape, since=1_001, before=None, ascending=True, count=2, after=position)
    assert page == tape[4:6] and not more
    page, more = select_executions(tape, since=None, before=1_002, ascending=False, count=5, after=None)
    assert page == tape[:3][::-1] and not more


# --- the server ----------------------------------------------------------------------------------


def test_subscribe_ack_snapshot_then_the_seeded_tape() -> None:
    settings = sim_settings()

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=[VENUE]) as sim, connect(f"{sim.url(VENUE)}/ws/v1") as ws:
            assert not sim.venues[VENUE].trades_sent  # nothing trades before a subscription
            await subscribe(ws)
            for product in PRODUCTS:  # nothing traded yet: empty snapshots, before any trade
                assert await recv_json(ws) == {"feed": "trade_snapshot", "product_id": product, "trades": []}
            reference = Market(settings.sim_seed, INSTRUMENTS)
            last_seq: dict[str, int] = {}
            for _ in range(150):
                message = await ws.recv()
                frame = krakenfutures.parse(message, 1)
                (trade,) = frame.records
                assert isinstance(trade, Trade) and frame.channel == f"trade:{trade.symbol}"
                expected = reference.next_trade(trade.instrument, 0)
                assert trade == dataclasses.replace(expected_trade(expected, 1), ts_event=trade.ts_event)
                assert abs(trade.ts_event - time.time_ns()) < 60 * 10**9
                seq = json.loads(message)["seq"]
                assert seq == last_seq.get(trade.symbol, seq - 1) + 1
                last_seq[trade.symbol] = seq
            assert set(last_seq) == set(PRODUCTS)
            await ws.send(krakenfutures.unsubscribe_message("trade", ["PF_ETHUSD"]))
            while (message := await recv_json(ws)).get("event") is None:
                pass
            assert message == {"event": "unsubscribed", "feed": "trade", "product_ids": ["PF_ETHUSD"]}
            for _ in range(20):  # only the product still subscribed
                assert json.loads(await ws.recv())["product_id"] == "PF_XBTUSD"

    run(scenario)


def test_resubscription_snapshot_holds_the_latest_trades_of_the_tape() -> None:
    settings = sim_settings(sim_rate=500.0, sim_skip_every=4)

    async def scenario() -> None:
        async with (
            open_simulator(settings, port=0, venues=[VENUE]) as sim,
            connect(f"{sim.url(VENUE)}/ws/v1") as keeper,
            connect(f"{sim.url(VENUE)}/ws/v1") as late,
        ):
            venue = sim.venues[VENUE]
            await subscribe(keeper, ["PF_XBTUSD"])
            while venue.generated < 150:
                await keeper.recv()
            await subscribe(late, ["PF_XBTUSD"])
            snapshot = await recv_json(late)
            history = venue.trades_from("BTC-USD-PERP")
            assert snapshot["feed"] == "trade_snapshot" and len(snapshot["trades"]) == 100
            # newest first, consecutive seqs: the lost trades are in the venue's snapshot too
            assert [item["seq"] for item in snapshot["trades"]] == [t.trade_id for t in history[::-1][:100]]
            parsed = krakenfutures.parse(json.dumps(snapshot), 2).records
            assert [t.trade_id for t in parsed] == [wire.uid_of(t) for t in history[-100:]]

    run(scenario)


def test_bad_requests_get_the_venue_error_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KrakenFuturesSim, "heartbeat_seconds", 0.2)

    async def scenario() -> None:
        async with open_simulator(sim_settings(), port=0, venues=[VENUE]) as sim:
            async with connect(f"{sim.url(VENUE)}/ws/v1") as ws:
                assert await recv_json(ws) == {"event": "info", "version": 1}
                requests = {
                    "not json": {"event": "error", "message": "Json Error"},
                    "[1, 2]": {"event": "error", "message": "Json Error"},
                    json.dumps({"event": "frob", "feed": "trade"}): {"event": "error", "message": "Json Error"},
                    json.dumps({"event": "subscribe"}): {"event": "error", "message": "Json Error"},
                    json.dumps({"event": "subscribe", "feed": "trade", "product_ids": ["NOPE"]}): {
                        "event": "error",
                        "message": "Invalid product id",
                    },
                    json.dumps({"event": "subscribe", "feed": "trade", "product_ids": "PF_XBTUSD"}): {
                        "event": "error",
                        "message": "Invalid product id",
                    },
                    json.dumps({"event": "subscribe", "feed": "trade"}): {
                        "event": "error",
                        "message": "Invalid product id",
                    },
                    krakenfutures.subscribe_message("trade", ["PF_SOLUSD"]): {
                        "event": "subscribed_failed",
                        "feed": "trade",
                        "product_ids": ["PF_SOLUSD"],
                    },
                    json.dumps({"event": "subscribe", "feed": "ticker_lite", "product_ids": ["PF_XBTUSD"]}): {
                        "event": "subscribed_failed",
                        "feed": "ticker_lite",
                        "product_ids": ["PF_XBTUSD"],
                    },
                    krakenfutures.unsubscribe_message("trade", ["PF_XBTUSD"]): {
                        "event": "unsubscribed_failed",
                        "feed": "trade",
                        "product_ids": ["PF_XBTUSD"],
                    },
                    json.dumps({"event": "subscribe", "feed": "frob", "product_ids": ["PF_XBTUSD"]}): {
                        "event": "alert",
                        "message": "Couldn't subscribe to invalid feed",
                    },
                    json.dumps({"event": "unsubscribe", "feed": "frob"}): {"event": "error", "message": "Invalid feed"},
                    json.dumps({"event": "subscribe", "feed": "fills"}): {
                        "event": "alert",
                        "message": "Failed to subscribe to authenticated feed",
                    },
                }
                for request, answer in requests.items():
                    await ws.send(request)
                    reply = await ws.recv()
                    assert json.loads(reply) == answer, request
                    assert krakenfutures.parse(reply, 0).control == "error", reply
                assert not sim.venues[VENUE].trades_sent
                # a partly known request subscribes the known products and fails the others
                await ws.send(krakenfutures.subscribe_message("trade", ["pf_xbtusd", "PF_SOLUSD"]))
                assert await recv_json(ws) == {"event": "subscribed", "feed": "trade", "product_ids": ["PF_XBTUSD"]}
                assert await recv_json(ws) == {
                    "event": "subscribed_failed",
                    "feed": "trade",
                    "product_ids": ["PF_SOLUSD"],
                }
                await ws.send(krakenfutures.unsubscribe_message("trade", ["PF_XBTUSD"]))
                while (message := await recv_json(ws)).get("event") is None:
                    pass
                assert message == {"event": "unsubscribed", "feed": "trade", "product_ids": ["PF_XBTUSD"]}
                await ws.send(krakenfutures.subscribe_message("heartbeat", []))
                while (message := await recv_json(ws)).get("event") is None:
                    pass  # trades sent before the unsubscription
                assert message == {"event": "subscribed", "feed": "heartbeat"}
                for _ in range(2):
                    beat = await ws.recv()
                    assert krakenfutures.parse(beat, 0).control == "heartbeat"
                    assert abs(json.loads(beat)["time"] - time.time() * 1000) < 60_000
            async with connect(f"{sim.url(VENUE)}/ws/v1") as quiet:  # no heartbeat feed, no heartbeats
                assert await recv_json(quiet) == {"event": "info", "version": 1}
                await quiet.send(krakenfutures.subscribe_message("heartbeat", []))
                assert await recv_json(quiet) == {"event": "subscribed", "feed": "heartbeat"}
                await quiet.send(krakenfutures.unsubscribe_message("heartbeat", []))
                while (message := await recv_json(quiet)).get("event") is None:
                    pass
                assert message == {"event": "unsubscribed", "feed": "heartbeat"}
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(quiet.recv(), 0.6)

    run(scenario)


def test_unknown_paths_are_refused() -> None:
    async def scenario() -> None:
        async with open_simulator(sim_settings(), port=0, venues=[VENUE]) as sim:
            base = f"ws://127.0.0.1:{sim.port}"
            for path in ("/", "/krakenfutures", "/krakenfutures/ws", "/krakenfutures/ws/v2", "/kraken/ws/v1"):
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(base + path):
                        pass
                assert refused.value.response.status_code == 404, path
            async with connect(f"{base}/krakenfutures/ws/v1/") as ws:  # the trailing slash is the same endpoint
                assert await recv_json(ws) == {"event": "info", "version": 1}
            async with httpx.AsyncClient(base_url=sim.rest_url(VENUE)) as http:
                for path in ("/api/history/v3/market/PF_XBTUSD/orders", EXECUTIONS.format("PF_SOLUSD"), "/api/x"):
                    answer = await http.get(path)
                    assert answer.status_code == 404, path
                    assert answer.json()["errors"] == [{"code": 0, "message": "404 NOT_FOUND"}]
                    assert answer.json()["result"] == "error"

    run(scenario)


async def run_to_exhaustion(sim: SimulatorHandle, ws: ClientConnection) -> list[str | bytes]:
    """Subscribe, let the simulator reach sim_max_trades, and return every frame after the ack."""
    await subscribe(ws)
    await asyncio.wait_for(sim.tasks[VENUE], TIMEOUT)
    return await drain(ws)


def test_rest_history_pages_serve_every_trade_of_the_tape() -> None:
    settings = sim_settings(sim_max_trades=700, sim_skip_every=9)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=[VENUE]) as sim, connect(f"{sim.url(VENUE)}/ws/v1") as ws:
            await run_to_exhaustion(sim, ws)
            venue = sim.venues[VENUE]
            async with httpx.AsyncClient(base_url=sim.rest_url(VENUE)) as http:
                for instrument, product in zip(INSTRUMENTS, PRODUCTS, strict=True):
                    history = venue.trades_from(instrument)
                    expected = [expected_trade(trade, 0) for trade in history]
                    path = EXECUTIONS.format(product)
                    # the default: newest first, at most 1000
                    latest = await http.get(path)
                    assert latest.status_code == 200 and "continuationToken" not in latest.json()
                    assert krakenfutures.parse_rest_trades(latest.content, 0, instrument) == expected
                    assert [e["timestamp"] for e in latest.json()["elements"]] == [t.ts_ms for t in history[::-1]]
                    # pages of 40 by continuation token, oldest first
                    listed: list[Trade] = []
                    params: dict[str, str] = {"since": str(history[0].ts_ms), "sort": "asc", "count": "40"}
                    pages = 0
                    while True:
                        answer = await http.get(path, params=params)
                        document = answer.json()
                        assert document["len"] == len(document["elements"]) <= 40
                        listed += krakenfutures.parse_rest_trades(answer.content, 0, instrument)
                        pages += 1
                        if "continuationToken" not in document:
                            break
                        assert answer.headers["Next-Continuation-Token"] == document["continuationToken"]
                        params["continuation_token"] = document["continuationToken"]
                    assert listed == expected and pages == -(-len(history) // 40)
                    # paging by time as the request builder does: since = the last trade's time
                    middle = history[len(history) // 2]
                    since_path, since_params = krakenfutures.rest_trades_request(instrument, middle.ts_ms)
                    assert since_path == path
                    answer = await http.get(since_path, params=since_params)
                    assert krakenfutures.parse_rest_trades(answer.content, 0, instrument) == [
                        trade for trade in expected if trade.ts_event >= middle.ts_ms * 1_000_000
                    ]
                    # before is exclusive
                    answer = await http.get(path, params={"before": str(middle.ts_ms), "sort": "asc"})
                    assert krakenfutures.parse_rest_trades(answer.content, 0, instrument) == [
                        trade for trade in expected if trade.ts_event < middle.ts_ms * 1_000_000
                    ]
                assert venue.trades_skipped > 0  # the history has the trades the wire lost
                for bad in ({"since": "yesterday"}, {"sort": "up"}, {"count": "0"}, {"continuation_token": "!!"}):
                    answer = await http.get(EXECUTIONS.format("PF_XBTUSD"), params=bad)
                    assert answer.status_code == 400, bad
                    assert answer.json()["status"] == "BAD_REQUEST"

    run(scenario)


def test_ground_truth_is_what_the_parser_reads_sent_or_not(tmp_path: Path) -> None:
    truth = tmp_path / "truth" / "krakenfutures.jsonl"
    settings = sim_settings(sim_max_trades=300, sim_skip_every=7, sim_ground_truth=truth)

    async def scenario() -> tuple[list[Trade], list[SimTrade]]:
        async with open_simulator(settings, port=0, venues=[VENUE]) as sim, connect(f"{sim.url(VENUE)}/ws/v1") as ws:
            frames = await run_to_exhaustion(sim, ws)
            received = [t for f in frames for t in krakenfutures.parse(f, 0).records if isinstance(t, Trade)]
            venue = sim.venues[VENUE]
            return received, [t for instrument in INSTRUMENTS for t in venue.trades_from(instrument)]

    received, tape = run(scenario)
    lines = [json.loads(line) for line in truth.read_text().splitlines()]
    assert len(lines) == len(tape) == 300
    sent = [line for line in lines if line["sent"]]
    assert {truth_key(line) for line in sent} == {trade_key(t) for t in received}
    assert len(received) == len(sent) == 300 - 300 // 7
    assert {(line["trade_id"], line["ts_event"]) for line in sent} == {(t.trade_id, t.ts_event) for t in received}
    lost = {line["trade_id"] for line in lines if not line["sent"]}
    assert lost == {wire.uid_of(t) for t in tape} - {t.trade_id for t in received}


def test_faults_gap_duplicate_and_malformed_frames() -> None:
    settings = sim_settings(sim_max_trades=400, sim_skip_every=11, sim_duplicate_every=13, sim_malformed_every=17)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=[VENUE]) as sim, connect(f"{sim.url(VENUE)}/ws/v1") as ws:
            frames = await run_to_exhaustion(sim, ws)
            venue = sim.venues[VENUE]
            reader = KrakenFuturesReader()
            tracker = SequenceTracker()
            missing: set[tuple[str, int]] = set()
            rejected = 0
            for frame in frames:
                try:
                    parsed = reader.parse(frame.encode() if isinstance(frame, str) else frame, 0)
                except ParseError:
                    rejected += 1
                    continue
                for stream, seq in reader.sequences(parsed):
                    seen = tracker.observe(stream, seq)
                    if seen.outcome == "gap":
                        assert seen.missing_from is not None and seen.missing_to is not None
                        missing |= {(stream, n) for n in range(seen.missing_from, seen.missing_to + 1)}
            assert rejected == venue.malformed_sent > 0
            # the lost trades are exactly the sequence gaps (but for lost trades that no delivered trade follows)
            delivered = set(_trade_ids(frames))
            lost = set()
            for instrument in INSTRUMENTS:
                tape = venue.trades_from(instrument)
                seqs = [t.trade_id for t in tape if wire.uid_of(t) in delivered]
                lost |= {
                    (f"trade:{wire.product_id_of(instrument)}", t.trade_id)
                    for t in tape
                    if wire.uid_of(t) not in delivered and min(seqs) < t.trade_id < max(seqs)
                }
            assert missing == lost and len(lost) >= 400 // 11 - 2
            # duplicates: the very same frame twice in a row
            texts = [f for f in frames if isinstance(f, str)]
            repeats = sum(1 for a, b in itertools.pairwise(texts) if a == b and '"feed":"trade"' in a)
            assert repeats == venue.duplicates_sent > 0
            assert tracker.duplicates == venue.duplicates_sent

    run(scenario)


def _trade_ids(frames: list[str | bytes]) -> list[str]:
    ids = []
    for frame in frames:
        with contextlib.suppress(ParseError):
            ids += [t.trade_id for t in krakenfutures.parse(frame, 0).records if isinstance(t, Trade)]
    return ids

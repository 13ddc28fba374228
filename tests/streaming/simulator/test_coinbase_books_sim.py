"""The simulated Coinbase order books and tickers: level2 (``l2_data``) and ``ticker`` frames rendered from the
seeded book, parsed back with the real parser, and served by the real server with per-connection ``sequence_num``,
the book-drop fault, unsubscription, and resynchronisation by resubscribing."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from testkit import run_bounded, simulator_settings
from websockets.asyncio.client import ClientConnection, connect

from contracts.records import BookUpdate, Level, Ticker, Trade
from streaming.book import OrderBook
from streaming.book_sync import BookSync
from streaming.simulator import coinbase_wire as wire
from streaming.simulator.books import BookSnapshot, SimBook, text
from streaming.simulator.coinbase import CoinbaseSim
from streaming.simulator.market import SimTrade, iter_trades, profile_of
from streaming.simulator.server import open_simulator
from streaming.venues import coinbase

INSTRUMENTS = ["BTC-USD", "ETH-USD"]
TIMEOUT = 30.0
START_MS = 1_790_000_000_000
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "coinbase"


run = functools.partial(run_bounded, timeout=TIMEOUT)


sim_settings = functools.partial(simulator_settings, "coinbase", INSTRUMENTS, seed=7, rate=250.0, alone=True)


def decimal(units: int) -> Decimal:
    return Decimal(text(units))


def levels(pairs: tuple[tuple[int, int], ...]) -> tuple[Level, ...]:
    return tuple(Level(decimal(price), decimal(size)) for price, size in pairs)


def as_dict(pairs: tuple[tuple[int, int], ...]) -> dict[Decimal, Decimal]:
    return {decimal(price): decimal(size) for price, size in pairs}


def book_of(snapshot: BookSnapshot) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    return as_dict(snapshot.bids), as_dict(snapshot.asks)


def volume(trades: list[SimTrade]) -> Decimal:
    return sum((trade.size for trade in trades), Decimal(0))


# --- wire format ---------------------------------------------------------------------------------


def test_level2_frames_parse_back_and_rebuild_the_book_whatever_the_frame_numbers() -> None:
    for instrument in ("BTC-USD", "ETH-USD", "DOGE-USD", "BTC-USDC-PERP"):
        book = SimBook(3, instrument, ["level2"])
        start = book.snapshot()
        raw = wire.l2_snapshot_frame(instrument, start, sequence_num=0, timestamp_ns=START_MS * 10**6 + 7)
        replay = OrderBook("coinbase", instrument)
        (snapshot,) = coinbase.parse(raw, 5).records
        assert snapshot == BookUpdate(
            venue="coinbase",
            instrument=instrument,
            symbol=coinbase.to_symbol(instrument),
            kind="snapshot",
            bids=levels(start.bids),
            asks=levels(start.asks),
            ts_event=START_MS * 10**6 + 7,  # every level's event_time: when the snapshot was taken
            ts_recv=5,
        )
        assert isinstance(snapshot, BookUpdate) and replay.apply(snapshot).status == "ok"
        number = 0
        times = range(START_MS, START_MS + 300 * 10, 10)
        for index, trade in enumerate(iter_trades(3, [instrument], times)):
            book.on_trade(trade)
            if index % 5 and index != 299:  # an update every few trades, and a last one
                continue
            diff = book.drain("level2")
            assert diff is not None
            number += 1 + index % 3  # other channels' frames take numbers in between
            raw = wire.l2_update_frame(
                instrument,
                diff,
                event_time_ns=trade.ts_ms * 10**6,
                sequence_num=number,
                timestamp_ns=trade.ts_ms * 10**6 + 1,
            )
            assert coinbase.sequence_of(raw) == coinbase.FrameSequence("connection", number, True)
            parsed = coinbase.parse(raw, 9)
            assert parsed.channel == "l2_data" and parsed.control is None
            (update,) = parsed.records
            assert isinstance(update, BookUpdate)
            assert (update.kind, update.bids, update.asks) == ("delta", levels(diff.bids), levels(diff.asks))
            assert update.ts_event == trade.ts_ms * 10**6 and update.ts_recv == 9
            assert (update.first_sequence, update.sequence, update.prev_sequence, update.checksum) == (None,) * 4
            for item in json.loads(raw)["events"][0]["updates"]:
                quantity = item["new_quantity"]
                assert quantity == "0" or not quantity.endswith("0") or "." not in quantity  # Advanced Trade's text
                assert not item["price_level"].endswith(".")
            assert replay.apply(update).status in ("ok", "crossed")
        final = book.snapshot()
        assert replay.synced and (replay.bids, replay.asks) == book_of(final)
        assert max(replay.bids) < min(replay.asks)


def test_ticker_frames_parse_back_with_the_tape_statistics_and_the_top_of_the_book() -> None:
    instrument = "ETH-USD"
    book = SimBook(5, instrument)
    stats = wire.TickerStats.opening(profile_of(instrument).start_price)
    tape = list(iter_trades(5, [instrument], range(START_MS, START_MS + 200)))
    opening = wire.ticker_item(instrument, stats, book.best_bid(), book.best_ask())
    assert (opening["price"], opening["volume_24_h"], opening["price_percent_chg_24_h"]) == (
        "3000",
        "0",
        "0.00000000000000",
    )
    for trade in tape:
        book.on_trade(trade)
        stats = stats.with_trade(trade)
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is not None and ask is not None
    item = wire.ticker_item(instrument, stats, bid, ask)
    raw = wire.ticker_frame("update", [item], sequence_num=41, timestamp_ns=START_MS * 10**6 + 250_000_000)
    parsed = coinbase.parse(raw, 3)
    assert parsed.channel == "ticker" and coinbase.sequence_of(raw) == coinbase.FrameSequence("connection", 41, True)
    assert parsed.records == (
        Ticker(
            venue="coinbase",
            instrument=instrument,
            symbol="ETH-USD",
            ts_event=START_MS * 10**6 + 250_000_000,
            ts_recv=3,
            best_bid=decimal(bid[0]),
            best_bid_size=decimal(bid[1]),
            best_ask=decimal(ask[0]),
            best_ask_size=decimal(ask[1]),
            last_price=tape[-1].price,
            volume_24h=volume(tape),
            sequence=41,
        ),
    )
    prices = [trade.price for trade in tape] + [Decimal("3000")]
    assert Decimal(item["low_24_h"]) == min(prices) and Decimal(item["high_52_w"]) == max(prices)
    change = (tape[-1].price - Decimal("3000")) * 100 / Decimal("3000")
    assert abs(Decimal(item["price_percent_chg_24_h"]) - change) < Decimal("1e-13")
    assert len(item["price_percent_chg_24_h"].partition(".")[2]) == 14
    # an empty side is sent as "" and read as absent
    (empty,) = coinbase.parse(
        wire.ticker_frame(
            "snapshot", [wire.ticker_item(instrument, stats, None, None)], sequence_num=0, timestamp_ns=0
        ),
        0,
    ).records
    assert isinstance(empty, Ticker) and (empty.best_bid, empty.best_ask_size) == (None, None)


def test_the_parser_leaves_the_book_sequence_unset_so_interleaved_frames_are_no_book_gap() -> None:
    """Captured frames: a BTC-USD snapshot numbered 0, then a BTC-USD update numbered 12 (frames 1..11 were
    other channels and books). With ``sequence = sequence_num`` the reducer took 1..11 for lost updates."""
    frames = {
        frame["name"]: frame["raw"] for frame in map(json.loads, (FIXTURES / "frames.jsonl").read_text().splitlines())
    }
    (snapshot,) = coinbase.parse(frames["adv_l2_snapshot_excerpt"], 1).records
    (update,) = coinbase.parse(frames["adv_l2_update_with_removals"], 2).records
    assert isinstance(snapshot, BookUpdate) and isinstance(update, BookUpdate)
    assert snapshot.sequence is None and update.sequence is None
    assert coinbase.sequence_of(frames["adv_l2_update_with_removals"]).sequence == 12  # type: ignore[union-attr]
    book = OrderBook("coinbase", "BTC-USD")
    book.apply(snapshot)
    assert book.apply(update).status in ("ok", "crossed") and book.synced
    assert book.bids[Decimal("83242.39")] == Decimal("0.02401664") and Decimal("83327.26") not in book.asks


# --- the server ----------------------------------------------------------------------------------


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    value = json.loads(await ws.recv())
    assert isinstance(value, dict)
    return value


async def subscribe_all(ws: ClientConnection, products: list[str]) -> None:
    for channel in ("market_trades", "level2", "ticker"):
        await ws.send(coinbase.subscribe_message(products, channel))
    await ws.send(coinbase.subscribe_message([], "heartbeats"))


async def resubscribe(ws: ClientConnection, instrument: str) -> None:
    await ws.send(coinbase.unsubscribe_message([instrument], "level2"))
    await ws.send(coinbase.subscribe_message([instrument], "level2"))


def test_snapshot_then_updates_a_dropped_update_is_a_frame_gap_and_a_resubscription_resyncs_the_book() -> None:
    settings = sim_settings(sim_max_trades=700, sim_book_drop_every=15)

    async def scenario() -> None:
        async with open_simulator(settings, port=0, venues=["coinbase"]) as sim:
            venue = sim.venues["coinbase"]
            assert isinstance(venue, CoinbaseSim) and venue.book_drop_every == 15
            sync = BookSync("coinbase")
            tickers: dict[str, list[tuple[Ticker, str]]] = {instrument: [] for instrument in INSTRUMENTS}
            trades: set[tuple[str, str]] = set()
            missing: list[int] = []
            kinds: dict[str, list[str]] = {instrument: [] for instrument in INSTRUMENTS}
            level2: set[str] = set()  # the products the latest ack lists under level2
            expect_snapshot: set[str] = set(INSTRUMENTS)
            async with connect(sim.url("coinbase"), max_queue=None) as ws:
                last = -1

                async def consume() -> None:
                    nonlocal last, level2
                    while True:
                        raw = await ws.recv()
                        message = json.loads(raw)
                        number = message["sequence_num"]
                        assert number > last, "numbers arrive in order"
                        if number > last + 1:  # frames lost: which books is unknown, resync them all
                            missing.extend(range(last + 1, number))
                            for instrument in INSTRUMENTS:
                                if sync.desync(instrument, last + 1, number - 1).snapshot_wanted:
                                    await resubscribe(ws, instrument)
                        last = number
                        parsed = coinbase.parse(raw, time.time_ns())
                        if message["channel"] == "subscriptions":
                            listed = set(message["events"][0]["subscriptions"].get("level2", []))
                            expect_snapshot.update(level2 - listed)  # unsubscribed: the next l2_data must be a snapshot
                            level2 = listed
                        for record in parsed.records:
                            if isinstance(record, BookUpdate):
                                kinds[record.instrument].append(record.kind)
                                assert record.instrument in level2
                                if record.instrument in expect_snapshot:
                                    assert record.kind == "snapshot", "an update before the resubscription's snapshot"
                                    expect_snapshot.discard(record.instrument)
                                sync.update(record)
                            elif isinstance(record, Ticker):
                                tickers[record.instrument].append((record, message["events"][0]["type"]))
                            elif isinstance(record, Trade):
                                trades.add((record.instrument, record.trade_id))

                consumer = asyncio.create_task(consume())
                await subscribe_all(ws, INSTRUMENTS)
                await asyncio.wait_for(sim.tasks["coinbase"], TIMEOUT)  # trading ended, last changes sent

                def converged() -> bool:
                    for instrument in INSTRUMENTS:
                        book = sync.book(instrument)
                        truth = book_of(venue.books[instrument].snapshot())
                        if sync.instruments[instrument].state != "synced" or (book.bids, book.asks) != truth:
                            return False
                    return True

                deadline = time.monotonic() + TIMEOUT
                while not converged():
                    assert time.monotonic() < deadline, "the books did not converge"
                    if consumer.done():
                        consumer.result()  # raises what failed in it
                        raise AssertionError("the connection ended")
                    await asyncio.sleep(0.05)
                consumer.cancel()
            # the drop fault: every dropped update took exactly one number of this (only) connection
            assert venue.book_updates_dropped >= 3 and len(missing) == venue.book_updates_dropped
            assert venue.book_updates_sent > 10 * venue.book_updates_dropped
            for instrument in INSTRUMENTS:
                assert kinds[instrument][0] == "snapshot" and "delta" in kinds[instrument]
                assert kinds[instrument].count("snapshot") >= 2  # the first, then resyncs
                # the books are the venue's: the seeded book driven by the whole tape (sent or not)
                tape = venue.trades_from(instrument)
                replay = SimBook(settings.sim_seed, instrument, ["level2"])
                for trade in tape:
                    replay.on_trade(trade)
                assert replay.snapshot() == venue.books[instrument].snapshot()
                # tickers: a snapshot first, then updates; the last one is the final state
                assert tickers[instrument][0][1] == "snapshot" and {kind for _, kind in tickers[instrument][1:]} == {
                    "update"
                }
                final, _ = tickers[instrument][-1]
                bid, ask = venue.books[instrument].best_bid(), venue.books[instrument].best_ask()
                assert bid is not None and ask is not None
                assert (final.best_bid, final.best_bid_size, final.best_ask, final.best_ask_size) == (
                    decimal(bid[0]),
                    decimal(bid[1]),
                    decimal(ask[0]),
                    decimal(ask[1]),
                )
                assert (final.last_price, final.volume_24h) == (tape[-1].price, volume(tape))
            assert len(trades) == venue.generated == 700

    run(scenario)


def test_unsubscribing_level2_and_ticker_stops_them_and_subscribing_again_starts_with_snapshots() -> None:
    async def scenario() -> None:
        async with (
            open_simulator(sim_settings(), port=0, venues=["coinbase"]) as sim,
            connect(sim.url("coinbase")) as ws,
        ):
            venue = sim.venues["coinbase"]
            await ws.send(coinbase.subscribe_message(["ETH-USD"], "ticker"))
            ack = await recv_json(ws)
            assert ack["events"][0]["subscriptions"] == {"ticker": ["ETH-USD"]} and ack["sequence_num"] == 0
            opening = await recv_json(ws)  # before any trade: the reference price, no volume, the opening book
            assert (opening["channel"], opening["sequence_num"], opening["events"][0]["type"]) == (
                "ticker",
                1,
                "snapshot",
            )
            (item,) = opening["events"][0]["tickers"]
            bid = venue.books["ETH-USD"].best_bid()  # type: ignore[attr-defined]
            assert (item["price"], item["volume_24_h"], item["best_bid"]) == ("3000", "0", wire.amount_text(bid[0]))
            await subscribe_all(ws, INSTRUMENTS)
            seen: dict[str, set[str]] = {"l2_data": set(), "ticker": set()}
            while seen != {"l2_data": set(INSTRUMENTS), "ticker": set(INSTRUMENTS)}:
                for record in coinbase.parse(await ws.recv(), 0).records:
                    if isinstance(record, BookUpdate | Ticker):
                        seen["l2_data" if isinstance(record, BookUpdate) else "ticker"].add(record.instrument)
            await ws.send(coinbase.unsubscribe_message(["ETH-USD"], "level2"))
            await ws.send(coinbase.unsubscribe_message(["ETH-USD"], "ticker"))
            acks = 0
            while acks < 2:
                message = await recv_json(ws)
                acks += message["channel"] == "subscriptions"
            assert message["events"][0]["subscriptions"] == {
                "heartbeats": ["heartbeats"],
                "level2": ["BTC-USD"],
                "market_trades": ["BTC-USD", "ETH-USD"],
                "ticker": ["BTC-USD"],
            }
            (client,) = venue.clients
            assert set(client.subscriptions) == {
                ("market_trades", "BTC-USD"),
                ("market_trades", "ETH-USD"),
                ("level2", "BTC-USD"),
                ("ticker", "BTC-USD"),
                ("heartbeats", "heartbeats"),
            }
            assert not venue.subscribers("level2", "ETH-USD") and not venue.subscribers("ticker", "ETH-USD")
            channels: dict[str, set[str]] = {"l2_data": set(), "ticker": set(), "market_trades": set()}
            for _ in range(150):  # ETH-USD still trades, but sends neither book updates nor tickers
                parsed = coinbase.parse(await ws.recv(), 0)
                for record in parsed.records:
                    channels.setdefault(parsed.channel, set()).add(record.instrument)
            assert channels["l2_data"] == {"BTC-USD"} and channels["ticker"] == {"BTC-USD"}
            assert "ETH-USD" in channels["market_trades"]
            # subscribing again: the ack, then the book's snapshot before any ETH-USD update
            await ws.send(coinbase.subscribe_message(["ETH-USD"], "level2"))
            while (message := await recv_json(ws))["channel"] != "subscriptions":
                pass
            while True:
                parsed = coinbase.parse(await ws.recv(), 0)
                eth = [r for r in parsed.records if isinstance(r, BookUpdate) and r.instrument == "ETH-USD"]
                if eth:
                    assert [r.kind for r in eth] == ["snapshot"]
                    break

    run(scenario)

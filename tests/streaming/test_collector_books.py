"""The collector's book hook: diffs held until a REST snapshot, a U/u gap published as "book:<symbol>", resync."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from decimal import Decimal

from test_collector_gaps import read_topic

from contracts.records import BookUpdate, Level
from contracts.schemas import decode
from streaming.bus import ensure_topics
from streaming.collector import Collector
from streaming.feeds.binance import feed as binance_feed
from streaming.transport import Frame
from ticklake.settings import load_settings

T = 1_790_649_901_913


def depth_frame(first: int, last: int, bid: str) -> bytes:
    data = {"e": "depthUpdate", "E": T, "s": "BTCUSDT", "U": first, "u": last, "b": [["100.0", bid]], "a": []}
    return json.dumps({"stream": "btcusdt@depth@100ms", "data": data}).encode()


def snapshot(last_update_id: int, bid: str) -> BookUpdate:
    return BookUpdate(
        venue="binance",
        instrument="BTC-USDT",
        symbol="BTCUSDT",
        kind="snapshot",
        bids=(Level(Decimal("100.0"), Decimal(bid)),),
        asks=(Level(Decimal("101.0"), Decimal("1")),),
        ts_event=T,
        ts_recv=T,
        sequence=last_update_id,
    )


def test_diffs_wait_for_the_snapshot_and_a_gap_is_published_and_resynced(broker: str) -> None:
    settings = load_settings(instruments={"binance": ["BTC-USDT"]})
    ensure_topics(settings)
    snapshots = [snapshot(11, "1"), snapshot(30, "7")]
    asked: list[str] = []

    def fetch(instrument: str) -> BookUpdate:
        asked.append(instrument)
        return snapshots.pop(0)

    collector = Collector(settings, dataclasses.replace(binance_feed(settings), book_snapshot=fetch))

    async def scenario() -> None:
        async def snapshots_taken(count: int) -> None:
            collector.start_snapshots()
            while collector.stats.book_snapshots < count:
                await asyncio.sleep(0.01)

        collector.handle(Frame("conn-a", 0, T, depth_frame(10, 12, "2")))
        collector.handle(Frame("conn-a", 1, T, depth_frame(13, 14, "3")))
        assert collector.stats.other_records == 0  # held back until the book is in sync
        await asyncio.wait_for(snapshots_taken(1), 10)
        collector.handle(Frame("conn-a", 2, T, depth_frame(20, 25, "4")))  # 15..19 never arrived
        collector.handle(Frame("conn-a", 3, T, depth_frame(26, 31, "5")))
        await asyncio.wait_for(snapshots_taken(2), 10)

    asyncio.run(scenario())
    assert asked == ["BTC-USDT", "BTC-USDT"]
    stats = collector.stats
    assert (stats.book_gaps, stats.book_missing, stats.book_snapshots, stats.books_resynced) == (1, 5, 2, 1)
    assert (stats.gaps, stats.trades, stats.other_records) == (0, 0, 6)
    assert collector.books is not None and collector.books.book("BTC-USDT").sequence == 31
    assert collector.books.book("BTC-USDT").best_bids() == [Level(Decimal("100.0"), Decimal("5"))]
    assert collector.producer.flush(15) == 0
    (gap,) = [decode("gap", value) for value in read_topic(settings, settings.topic("gaps"))]
    assert (gap["stream"], gap["first_missing"], gap["last_missing"], gap["missing"]) == ("book:BTCUSDT", 15, 19, 5)
    published = [decode("book_update", value) for value in read_topic(settings, settings.topic("book"))]
    assert [(u["kind"], u["sequence"]) for u in published] == [
        ("snapshot", 11),
        ("delta", 12),
        ("delta", 14),
        ("snapshot", 30),
        ("delta", 25),
        ("delta", 31),
    ]

"""Every record type travels its own topic into its own bronze table, exactly as produced."""

import threading
from decimal import Decimal

from contracts.records import BookUpdate, Level, Lifecycle, Ticker
from contracts.schemas import encode
from streaming.bus import ensure_topics, make_producer
from streaming.sink import BronzeSink
from ticklake.lake import open_catalog
from ticklake.settings import load_settings

TS = 1_795_000_000_000_000_000


def test_book_ticker_and_lifecycle_land_in_their_tables(broker):
    settings = load_settings(sink_batch_rows=1, sink_batch_seconds=0.2)
    ensure_topics(settings)
    book = BookUpdate(
        "kraken",
        "BTC-USD",
        "BTC/USD",
        "snapshot",
        (Level(Decimal("65000.1"), Decimal("0.5")), Level(Decimal("64999.9"), Decimal("1.25"))),
        (Level(Decimal("65000.2"), Decimal("0.00000123")),),
        TS,
        TS + 1,
        sequence=42,
        checksum=3_310_070_434,
    )
    ticker = Ticker(
        "krakenfutures",
        "BTC-USD-PERP",
        "PF_XBTUSD",
        TS,
        TS + 1,
        best_bid=Decimal("65000"),
        funding_rate=Decimal("-0.000012"),
        open_interest=Decimal("12000000000"),
    )
    event = Lifecycle("kalshi", "KALSHI:KXBTCD-25NOV2117", "KXBTCD-25NOV2117", "settled", TS, TS + 1, result="yes")
    producer = make_producer(settings, "test")
    for topic, name, record in (
        ("book", "book_update", book),
        ("ticker", "ticker", ticker),
        ("lifecycle", "lifecycle", event),
    ):
        producer.produce(settings.topic(topic), encode(name, record.to_record(TS + 2)), key=record.instrument)
    assert producer.flush(15) == 0

    stop = threading.Event()
    seen: dict[str, int] = {}

    def on_commit(report):
        seen[report.table] = seen.get(report.table, 0) + report.rows
        if all(seen.get(t) for t in ("bronze.book_updates", "bronze.tickers", "bronze.lifecycle")):
            stop.set()

    sink = threading.Thread(target=lambda: BronzeSink(settings, open_catalog(settings), on_commit=on_commit).run(stop))
    sink.start()
    reached = stop.wait(60)
    stop.set()
    sink.join(30)
    assert reached, seen

    catalog = open_catalog(settings)
    (row,) = catalog.load_table("bronze.book_updates").scan().to_arrow().to_pylist()
    assert row["bids"] == [
        {"price": Decimal("65000.1"), "size": Decimal("0.5")},
        {"price": Decimal("64999.9"), "size": Decimal("1.25")},
    ]
    assert row["asks"] == [{"price": Decimal("65000.2"), "size": Decimal("0.00000123")}]
    assert (row["kind"], row["sequence"], row["checksum"], row["first_sequence"]) == (
        "snapshot",
        42,
        3_310_070_434,
        None,
    )
    (row,) = catalog.load_table("bronze.tickers").scan().to_arrow().to_pylist()
    assert row["funding_rate"] == Decimal("-0.000012") and row["open_interest"] == Decimal("12000000000")
    assert row["best_ask"] is None and row["instrument"] == "BTC-USD-PERP"
    (row,) = catalog.load_table("bronze.lifecycle").scan().to_arrow().to_pylist()
    assert (row["event"], row["result"], row["instrument"]) == ("settled", "yes", "KALSHI:KXBTCD-25NOV2117")

"""The chaos harness in its short form (`make chaos` runs the long one): SIGKILLs of the sink and
dropped venue connections while a known set of trades flows; every trade lands exactly once."""

import time
from decimal import Decimal

from contracts.records import Trade
from contracts.schemas import encode
from streaming.bus import ensure_topics, make_producer
from streaming.chaos import run_chaos, sink_caught_up
from streaming.feeds.registry import FEEDS
from streaming.sink import BronzeSink
from ticklake.lake import open_catalog
from ticklake.settings import get_settings


def test_exactly_once_across_every_venue_under_sink_kills_and_dropped_connections(tmp_path):
    report = run_chaos(
        tmp_path, trades=24_000, kills=5, rate=250, drop_every=2.0, seed=11, venues=list(FEEDS), timeout=300
    )
    assert report.sent == 24_000
    assert report.kills >= 3, report
    assert (report.lost, report.duplicated, report.unexpected) == (0, 0, 0), report
    assert report.stored == report.sent and report.exactly_once
    logs = (tmp_path / "logs").iterdir()
    sim_log = next(p for p in logs if p.name.startswith("sim")).read_text()
    assert "dropping" in sim_log, "the simulator never dropped a connection"


def test_the_harness_knows_when_the_sink_has_stored_everything_published(broker, tmp_path):
    settings = get_settings()
    ensure_topics(settings)
    state = settings.state_dir

    def publish(numbers):
        producer = make_producer(settings, "test-chaos-watch")
        for n in numbers:
            trade = Trade(
                venue="binance",
                instrument="BTC-USDT",
                symbol="BTCUSDT",
                trade_id=str(n),
                price=Decimal("100.5"),
                size=Decimal("0.25"),
                side="buy",
                ts_event=1_795_000_000_000_000_000 + n,
                ts_recv=1_795_000_000_000_000_000 + n,
            )
            producer.produce(settings.topic("trades"), value=encode("trade", trade.to_record(time.time_ns())), key=b"k")
        assert producer.flush(15) == 0

    publish(range(5))
    assert not sink_caught_up(state, broker)  # nothing stored yet: no table
    BronzeSink(settings, open_catalog(settings)).run(idle_exit=1.5)
    assert sink_caught_up(state, broker)
    publish(range(5, 8))
    assert not sink_caught_up(state, broker)  # published, not stored yet
    BronzeSink(settings, open_catalog(settings)).run(idle_exit=1.5)
    assert sink_caught_up(state, broker)

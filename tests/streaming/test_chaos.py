"""The chaos harness in its short form (`make chaos` runs the long one): SIGKILLs of the sink and
dropped venue connections while a known set of trades flows; every trade lands exactly once."""

from streaming.chaos import run_chaos
from streaming.feeds.registry import FEEDS


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

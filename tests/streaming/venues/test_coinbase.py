"""The Coinbase parsers (Advanced Trade and Exchange) against captured frames, exact decimals and times,
malformed input, fuzzing, subscriptions, symbol mapping and REST history."""

from __future__ import annotations

import calendar
import copy
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from venue_fuzz import maybe_damaged

from contracts.records import BookUpdate, Level, Ticker, Trade
from contracts.schemas import decode, encode
from streaming.errors import ParseError
from streaming.venues import coinbase
from streaming.venues.base import ParsedFrame

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "coinbase"
FRAMES: list[dict[str, Any]] = [
    json.loads(line) for line in (FIXTURES / "frames.jsonl").read_text().splitlines() if line
]
BY_NAME = {frame["name"]: frame for frame in FRAMES}
RECEIVED = 1_800_000_000_000_000_000
MAX_NS = 2**63 - 1

FUZZ = settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def ns(text: str) -> int:
    """Epoch ns of a ``...Z`` time, computed without the parser."""
    base = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    fraction = text[20:-1] if text[19] == "." else ""
    return base * 1_000_000_000 + int(fraction.ljust(9, "0") or "0")


def trades_frame(*trades: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "channel": "market_trades",
        "client_id": "",
        "timestamp": "2026-09-30T01:41:27.834Z",
        "sequence_num": 5,
        "events": [{"type": "update", "trades": list(trades) or [adv_trade()]}],
    }
    frame.update(envelope)
    return {key: value for key, value in frame.items() if value is not ...}


def adv_trade(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "product_id": "ETH-USD",
        "trade_id": "846149798",
        "price": "2668.35",
        "size": "0.03710506",
        "time": "2026-09-30T01:41:25.375232Z",
        "side": "SELL",
    }
    item.update(changes)
    return {key: value for key, value in item.items() if value is not ...}


def book_frame(*updates: dict[str, Any], kind: str = "update", **event: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "product_id": "BTC-USD", "updates": list(updates) or [level()]}
    body.update(event)
    return {
        "channel": "l2_data",
        "timestamp": "2026-09-30T02:39:53.798423713Z",
        "sequence_num": 12,
        "events": [{key: value for key, value in body.items() if value is not ...}],
    }


def level(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "side": "bid",
        "event_time": "2026-09-30T02:39:53.751818Z",
        "price_level": "83242.39",
        "new_quantity": "0.02401664",
    }
    item.update(changes)
    return {key: value for key, value in item.items() if value is not ...}


def ticker_frame(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "ticker",
        "product_id": "BTC-USD",
        "price": "64281.7",
        "volume_24_h": "3974.98800786",
        "best_bid": "64281.7",
        "best_ask": "64281.71",
        "best_bid_quantity": "0.21558849",
        "best_ask_quantity": "0.02287045",
    }
    item.update(changes)
    return {
        "channel": "ticker",
        "timestamp": "2026-06-14T05:35:45.435813533Z",
        "sequence_num": 16,
        "events": [{"type": "update", "tickers": [{k: v for k, v in item.items() if v is not ...}]}],
    }


def match(**changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "match",
        "trade_id": 1081862675,
        "maker_order_id": "f07e510f-4edf-469d-b844-4f670f1e93f1",
        "taker_order_id": "e6f50944-3e2a-439e-ae49-308300ba8296",
        "side": "sell",
        "size": "0.00000001",
        "price": "80691.53",
        "product_id": "BTC-USD",
        "sequence": 134905860111,
        "time": "2026-08-25T03:35:57.198335Z",
    }
    message.update(changes)
    return {key: value for key, value in message.items() if value is not ...}


def parse_records(payload: dict[str, Any] | str | bytes) -> tuple[Any, ...]:
    raw = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    frame = coinbase.parse(raw, RECEIVED)
    assert frame.control is None
    return frame.records


def one_trade(payload: dict[str, Any]) -> Trade:
    (record,) = parse_records(payload)
    assert isinstance(record, Trade)
    return record


# --- captured frames ---------------------------------------------------------------------------


def expected_record(item: dict[str, Any]) -> Trade | BookUpdate | Ticker:
    common = {"venue": "coinbase", "instrument": item["instrument"], "symbol": item["symbol"]}
    if item["type"] == "trade":
        return Trade(
            **common,
            trade_id=item["trade_id"],
            price=Decimal(item["price"]),
            size=Decimal(item["size"]),
            side=item["side"],
            ts_event=item["ts_event"],
            ts_recv=item["ts_recv"],
        )
    if item["type"] == "book":
        return BookUpdate(
            **common,
            kind=item["kind"],
            bids=tuple(Level(Decimal(p), Decimal(s)) for p, s in item["bids"]),
            asks=tuple(Level(Decimal(p), Decimal(s)) for p, s in item["asks"]),
            ts_event=item["ts_event"],
            ts_recv=item["ts_recv"],
            sequence=item["sequence"],
        )

    def measure(key: str) -> Decimal | None:
        return None if item[key] is None else Decimal(item[key])

    return Ticker(
        **common,
        ts_event=item["ts_event"],
        ts_recv=item["ts_recv"],
        sequence=item["sequence"],
        best_bid=measure("best_bid"),
        best_bid_size=measure("best_bid_size"),
        best_ask=measure("best_ask"),
        best_ask_size=measure("best_ask_size"),
        last_price=measure("last_price"),
        volume_24h=measure("volume_24h"),
    )


def decimals_of(record: object) -> list[Decimal]:
    if isinstance(record, Trade):
        return [record.price, record.size]
    if isinstance(record, BookUpdate):
        return [value for lv in (*record.bids, *record.asks) for value in (lv.price, lv.size)]
    assert isinstance(record, Ticker)
    values = (record.best_bid, record.best_bid_size, record.best_ask, record.best_ask_size, record.last_price)
    return [value for value in (*values, record.volume_24h) if value is not None]


def test_fixtures_cover_every_kind() -> None:
    assert len(BY_NAME) == len(FRAMES), "fixture names must be unique"
    kinds = {
        (frame["expect"]["channel"], record["type"], record.get("kind"))
        for frame in FRAMES
        for record in frame["expect"].get("records", [])
    }
    assert kinds >= {
        ("market_trades", "trade", None),
        ("l2_data", "book", "snapshot"),
        ("l2_data", "book", "delta"),
        ("ticker", "ticker", None),
        ("matches", "trade", None),
    }
    controls = {(frame["name"][:3], frame["expect"].get("control")) for frame in FRAMES}
    assert controls >= {("adv", "ack"), ("adv", "heartbeat"), ("adv", "error"), ("ex_", "ack"), ("ex_", "heartbeat")}
    assert {"ex_match", "ex_last_match"} <= set(BY_NAME)
    assert any('"type":"snapshot"' in f["raw"] and f["raw"].startswith('{"channel":"market_trades"') for f in FRAMES)


@pytest.mark.parametrize("frame", FRAMES, ids=[frame["name"] for frame in FRAMES])
def test_captured_frame(frame: dict[str, Any]) -> None:
    for raw in (frame["raw"], frame["raw"].encode()):
        parsed = coinbase.parse(raw, frame["received_at"])
        expect = frame["expect"]
        if "control" in expect:
            assert parsed == ParsedFrame(channel=expect["channel"], control=expect["control"])
            continue
        assert parsed.control is None
        assert parsed.channel == expect["channel"]
        wanted = tuple(expected_record(item) for item in expect["records"])
        assert parsed.records == wanted
        for got, want in zip(parsed.records, wanted, strict=True):
            # Exact text, not just equal value: the wire's digits and scale are kept.
            assert [d.as_tuple() for d in decimals_of(got)] == [d.as_tuple() for d in decimals_of(want)]
            assert type(got.ts_event) is int and type(got.ts_recv) is int


@pytest.mark.parametrize("frame", FRAMES, ids=[frame["name"] for frame in FRAMES])
def test_sequence_of_captured_frame(frame: dict[str, Any]) -> None:
    expected = frame["sequence"]
    got = coinbase.sequence_of(frame["raw"])
    assert got == (None if expected is None else coinbase.FrameSequence(**expected))


def test_records_fit_their_contracts() -> None:
    names = {Trade: "trade", BookUpdate: "book_update", Ticker: "ticker"}
    for frame in FRAMES:
        for record in coinbase.parse(frame["raw"], RECEIVED).records:
            name = names[type(record)]
            assert decode(name, encode(name, record.to_record(RECEIVED + 1))) == record.to_record(RECEIVED + 1)


# --- conventions: side, sequence, time ---------------------------------------------------------


def test_advanced_trade_side_is_the_maker_side() -> None:
    assert one_trade(trades_frame(adv_trade(side="BUY"))).side == "sell"
    assert one_trade(trades_frame(adv_trade(side="SELL"))).side == "buy"


def test_sweep_shows_the_label_is_the_maker_side() -> None:
    # One taker order, one timestamp: as trade ids rise the prices fall, so the taker walked down the bids
    # (it sold); every trade is labelled BUY, the resting orders' side.
    raw = json.loads(BY_NAME["adv_market_trades_sweep_down"]["raw"])
    labels = {item["side"] for item in raw["events"][0]["trades"]}
    records = sorted(parse_records(BY_NAME["adv_market_trades_sweep_down"]["raw"]), key=lambda t: int(t.trade_id))
    prices = [record.price for record in records]
    assert labels == {"BUY"} and len({record.ts_event for record in records}) == 1
    assert prices == sorted(prices, reverse=True) and prices[0] > prices[-1]
    assert {record.side for record in records} == {"sell"}


def test_exchange_match_side_is_the_maker_side() -> None:
    assert one_trade(match(side="sell")).side == "buy"
    assert one_trade(match(side="buy")).side == "sell"
    assert one_trade(match(type="last_match")).side == "buy"


def test_advanced_trade_and_exchange_give_the_same_identity() -> None:
    # The Exchange match of ex_match, as Advanced Trade would send it: the same Trade record.
    item = adv_trade(product_id="BTC-USD", trade_id="1081862675", price="80691.53", size="0.00000001")
    item.update(time="2026-08-25T03:35:57.198335Z", side="SELL")
    assert one_trade(trades_frame(item)) == one_trade(match())


def test_sequences() -> None:
    book = parse_records(BY_NAME["adv_l2_update_with_removals"]["raw"])[0]
    # sequence_num counts every frame of the connection: not a book sequence (see the module docstring)
    assert book.sequence is None and book.first_sequence is None and book.checksum is None
    assert parse_records(BY_NAME["ex_ticker_docs"]["raw"])[0].sequence == 37475248783
    # Consecutive Exchange matches skip sequence numbers; their trade ids are contiguous.
    first = coinbase.sequence_of(BY_NAME["ex_last_match"]["raw"])
    second = coinbase.sequence_of(BY_NAME["ex_match"]["raw"])
    assert first is not None and second is not None
    assert second.sequence > first.sequence + 1 and not second.contiguous
    assert second.trade_id == first.trade_id + 1  # type: ignore[operator]
    # Control frames of Advanced Trade count in sequence_num too.
    assert coinbase.sequence_of(BY_NAME["adv_heartbeats"]["raw"]) == coinbase.FrameSequence("connection", 3, True)
    assert coinbase.sequence_of(b'{"type":"error","message":"x"}') is None


def test_book_event_time_and_kinds() -> None:
    (snapshot,) = parse_records(book_frame(level(event_time="1970-01-01T00:00:00Z"), kind="snapshot"))
    assert snapshot.kind == "snapshot" and snapshot.ts_event == ns("2026-09-30T02:39:53.798423713Z")
    (empty,) = parse_records(book_frame(kind="snapshot", updates=[]))
    assert empty.bids == () and empty.asks == () and empty.ts_event == ns("2026-09-30T02:39:53.798423713Z")
    (delta,) = parse_records(
        book_frame(level(event_time="2026-09-30T02:39:53.1Z"), level(side="offer", event_time="2026-09-30T02:39:53.2Z"))
    )
    assert delta.kind == "delta" and delta.ts_event == ns("2026-09-30T02:39:53.2Z")
    assert delta.bids == (Level(Decimal("83242.39"), Decimal("0.02401664")),)
    assert delta.asks == (Level(Decimal("83242.39"), Decimal("0.02401664")),)


def test_one_frame_many_events_many_records() -> None:
    frame = trades_frame(adv_trade(trade_id="1"), adv_trade(trade_id="2"))
    frame["events"].append({"type": "update", "trades": [adv_trade(trade_id="3", product_id="BTC-USD")]})
    records = parse_records(frame)
    assert [r.trade_id for r in records] == ["1", "2", "3"]
    assert [r.instrument for r in records] == ["ETH-USD", "ETH-USD", "BTC-USD"]
    books = book_frame()
    books["events"].append({"type": "update", "product_id": "ETH-USD", "updates": [level(side="offer")]})
    assert [b.instrument for b in parse_records(books)] == ["BTC-USD", "ETH-USD"]
    assert parse_records(trades_frame(events=[])) == ()
    assert parse_records(trades_frame(events=[{"type": "snapshot", "trades": []}])) == ()


def test_ticker_optional_measures() -> None:
    (ticker,) = parse_records(ticker_frame(best_bid="", best_ask=..., best_bid_quantity=None))
    assert ticker.best_bid is None and ticker.best_ask is None and ticker.best_bid_size is None
    assert ticker.best_ask_size == Decimal("0.02287045") and ticker.last_price == Decimal("64281.7")
    batch = ticker_frame()
    batch["channel"] = "ticker_batch"
    frame = coinbase.parse(json.dumps(batch), RECEIVED)
    assert frame.channel == "ticker_batch" and isinstance(frame.records[0], Ticker)
    (bare,) = parse_records({"type": "ticker", "sequence": 1, "product_id": "BTC-USD", "price": "1"})
    assert bare.ts_event == RECEIVED and bare.last_price == Decimal("1") and bare.best_bid is None


ISO_CASES = [
    ("2026-09-30T02:39:53Z", ns("2026-09-30T02:39:53Z")),
    ("2026-09-30T02:39:53.7Z", ns("2026-09-30T02:39:53Z") + 700_000_000),
    ("2026-09-30T02:39:53.78Z", ns("2026-09-30T02:39:53Z") + 780_000_000),
    ("2026-09-30T02:39:53.000Z", ns("2026-09-30T02:39:53Z")),
    ("2026-09-30T02:39:53.1653Z", ns("2026-09-30T02:39:53Z") + 165_300_000),
    ("2026-09-30T02:39:53.17586Z", ns("2026-09-30T02:39:53Z") + 175_860_000),
    ("2026-09-30T02:39:53.407329Z", ns("2026-09-30T02:39:53Z") + 407_329_000),
    ("2026-09-30T02:39:53.6623968Z", ns("2026-09-30T02:39:53Z") + 662_396_800),
    ("2026-09-30T02:39:53.78865513Z", ns("2026-09-30T02:39:53Z") + 788_655_130),
    ("2026-09-30T02:39:53.787841965Z", ns("2026-09-30T02:39:53Z") + 787_841_965),
    ("2026-09-30T02:39:53.000000001Z", ns("2026-09-30T02:39:53Z") + 1),
    ("2026-09-30T02:39:53.999999999Z", ns("2026-09-30T02:39:53Z") + 999_999_999),
    ("2026-09-30 02:39:53,5Z", ns("2026-09-30T02:39:53Z") + 500_000_000),
    ("2026-09-30t02:39:53z", ns("2026-09-30T02:39:53Z")),
    ("2026-09-30T04:39:53.5+02:00", ns("2026-09-30T02:39:53Z") + 500_000_000),
    ("2026-09-30T04:39:53.5+0200", ns("2026-09-30T02:39:53Z") + 500_000_000),
    ("2026-09-29T21:09:53.123456789-05:30", ns("2026-09-30T02:39:53Z") + 123_456_789),
    ("2026-09-30T02:39:53-00:00", ns("2026-09-30T02:39:53Z")),
    ("1970-01-01T00:00:00Z", 0),
    ("1970-01-01T01:00:00+01:00", 0),
    ("2024-02-29T23:59:59.999999999Z", ns("2024-03-01T00:00:00Z") - 1),
    ("2000-02-29T12:00:00Z", 951_825_600_000_000_000),
    ("2262-04-11T23:47:16.854775807Z", MAX_NS),
]


@pytest.mark.parametrize(("text", "expected"), ISO_CASES, ids=[case[0] for case in ISO_CASES])
def test_iso8601_to_nanoseconds(text: str, expected: int) -> None:
    assert coinbase.iso8601_to_ns(text) == expected
    trade = one_trade(trades_frame(adv_trade(time=text)))
    assert trade.ts_event == expected and type(trade.ts_event) is int


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-09-30",
        "2026-09-30T02:39:53",  # no zone
        "2026-09-30T02:39:53.Z",
        "2026-09-30T02:39:53.1234567890Z",  # 10 fractional digits
        "2026-09-30T02:39Z",
        "2026-9-30T02:39:53Z",
        "2026-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-09-30T24:00:00Z",
        "2026-09-30T23:60:00Z",
        "2016-12-31T23:59:60Z",  # leap seconds are not represented
        "2026-09-30T02:39:53+24:00",
        "2026-09-30T02:39:53+02:60",
        "2026-09-30T02:39:53+2",
        "1969-12-31T23:59:59.999999999Z",
        "1970-01-01T00:30:00+01:00",
        "2262-04-11T23:47:16.854775808Z",
        "9999-12-31T23:59:59Z",
        "\u0662\u0660\u0662\u0666-09-30T02:39:53Z",  # Arabic-Indic digits
        " 2026-09-30T02:39:53Z",
        "2026-09-30T02:39:53Z ",
        "2026-09-30T02:39:53.1e3Z",
        "2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105",
    ],
)
def test_bad_times_raise_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        coinbase.iso8601_to_ns(text)
    with pytest.raises(ParseError, match="'time'"):
        coinbase.parse(json.dumps(trades_frame(adv_trade(time=text))), RECEIVED)


@given(
    st.integers(min_value=2 * 86_400 * 10**9, max_value=MAX_NS - 2 * 86_400 * 10**9),
    st.integers(min_value=0, max_value=9),
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
)
@FUZZ
def test_iso8601_round_trips_every_instant(instant: int, digits: int, offset_minutes: int) -> None:
    instant -= instant % 10 ** (9 - digits)  # representable with `digits` fractional digits
    seconds, fraction = divmod(instant, 10**9)
    local = time.gmtime(seconds + offset_minutes * 60)
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", local)
    if digits:
        text += "." + str(fraction).rjust(9, "0")[:digits]
    text += f"{sign}{hours:02d}:{minutes:02d}"
    assert coinbase.iso8601_to_ns(text) == instant


# --- exact decimals ----------------------------------------------------------------------------


DECIMALS = [
    ("0.00000123", Decimal("0.00000123")),
    ("12000000000", Decimal("12000000000")),
    ("12000000000.00000000", Decimal("12000000000")),
    ("5.1E-05", Decimal("0.000051")),
    ("5.1e-5", Decimal("0.000051")),
    ("1E+3", Decimal("1000")),
    ("0.000000000000000001", Decimal("1E-18")),
    ("99999999999999999999.999999999999999999", Decimal("99999999999999999999.999999999999999999")),
    ("1.000000000000000000000000", Decimal("1")),
    ("00012.5", Decimal("12.5")),
]


@pytest.mark.parametrize(("text", "expected"), DECIMALS, ids=[case[0] for case in DECIMALS])
def test_exact_decimals(text: str, expected: Decimal) -> None:
    trade = one_trade(trades_frame(adv_trade(price=text, size=text)))
    assert trade.price == expected and trade.size == expected
    assert trade.price.as_tuple() == Decimal(text).as_tuple()  # the wire's digits, not a float's
    (book,) = parse_records(book_frame(level(price_level=text, new_quantity=text)))
    assert book.bids[0] == Level(expected, expected)
    (ticker,) = parse_records(ticker_frame(price=text, volume_24_h=text, best_bid_quantity=text))
    assert ticker.last_price == ticker.volume_24h == ticker.best_bid_size == expected
    match_trade = one_trade(match(price=text, size=text))
    assert match_trade.price == expected and match_trade.size.as_tuple() == Decimal(text).as_tuple()


def test_zero_sizes() -> None:
    assert one_trade(trades_frame(adv_trade(size="0"))).size == 0
    (book,) = parse_records(book_frame(level(new_quantity="0")))
    assert book.bids == (Level(Decimal("83242.39"), Decimal("0")),)
    (ticker,) = parse_records(ticker_frame(best_bid="0", volume_24_h="0.00"))
    assert ticker.best_bid == 0 and ticker.volume_24h == 0


@given(st.decimals(min_value=Decimal("1E-18"), max_value=Decimal("1E20") - 1, places=18, allow_nan=False))
@FUZZ
def test_every_storable_decimal_round_trips(value: Decimal) -> None:
    text = format(value, "f")
    trade = one_trade(trades_frame(adv_trade(price=text, size=text)))
    assert trade.price == value and trade.size == value


# --- malformed frames --------------------------------------------------------------------------


def mutate(frame: dict[str, Any], path: tuple[Any, ...], value: Any) -> str:
    """The frame with the item at ``path`` set to ``value`` (``...`` deletes it), as JSON text."""
    copied = copy.deepcopy(frame)
    target = copied
    for step in path[:-1]:
        target = target[step]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(copied)


TRADE = ("events", 0, "trades", 0)
LEVEL = ("events", 0, "updates", 0)
TICK = ("events", 0, "tickers", 0)
T, B, K = trades_frame(), book_frame(), ticker_frame()
HEARTBEAT = json.loads(BY_NAME["adv_heartbeats"]["raw"])
SUBSCRIPTIONS = json.loads(BY_NAME["adv_subscriptions_ack"]["raw"])
EX_SUBSCRIPTIONS = json.loads(BY_NAME["ex_subscriptions"]["raw"])
EX_HEARTBEAT = json.loads(BY_NAME["ex_heartbeat_docs"]["raw"])

MATCH_FIELDS = ("trade_id", "side", "size", "price", "product_id", "sequence", "time")
TIME_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,11})?(Z|[+-][0-9]{2}:?[0-9]{2})?"

MALFORMED: dict[str, str | bytes] = {
    "empty": b"",
    "not json": b"hello",
    "truncated": BY_NAME["adv_market_trades_update_two"]["raw"][:80].encode(),
    "truncated at the end": BY_NAME["ex_match"]["raw"][:-1],
    "invalid utf-8": b'{"channel":"market_trades","x":"\xff"}',
    "lone surrogate": '{"channel":"\ud800"}',
    "array": b"[1,2]",
    "string": b'"market_trades"',
    "number": b"42",
    "null": b"null",
    "empty object": b"{}",
    "unknown keys": b'{"foo":1}',
    "nested too deep": b"[" * 100_000,
    "nan literal": b'{"type":"match","price":NaN}',
    # envelope
    "unknown channel": mutate(T, ("channel",), "candles"),
    "user channel": mutate(T, ("channel",), "user"),
    "channel not string": mutate(T, ("channel",), 5),
    "sequence_num missing": mutate(T, ("sequence_num",), ...),
    "sequence_num string": mutate(T, ("sequence_num",), "5"),
    "sequence_num float": mutate(T, ("sequence_num",), 5.0),
    "sequence_num bool": mutate(T, ("sequence_num",), True),
    "sequence_num negative": mutate(T, ("sequence_num",), -1),
    "sequence_num beyond int64": mutate(T, ("sequence_num",), 2**63),
    "sequence_num beyond 64 bits": mutate(T, ("sequence_num",), 2**64),
    "timestamp missing": mutate(T, ("timestamp",), ...),
    "timestamp number": mutate(T, ("timestamp",), 1790735993),
    "timestamp garbage": mutate(T, ("timestamp",), "yesterday"),
    "events missing": mutate(T, ("events",), ...),
    "events object": mutate(T, ("events",), {"type": "update"}),
    "event not object": mutate(T, ("events", 0), [1]),
    "event type unknown": mutate(T, ("events", 0, "type"), "delta"),
    "event type missing": mutate(T, ("events", 0, "type"), ...),
    "trades missing": mutate(T, ("events", 0, "trades"), ...),
    "trades object": mutate(T, ("events", 0, "trades"), {}),
    "trade not object": mutate(T, TRADE, "846149798"),
    # market_trades items
    **{f"trade missing {key}": mutate(T, (*TRADE, key), ...) for key in adv_trade()},
    "trade price number": mutate(T, (*TRADE, "price"), 2668.35),
    "trade price integer": mutate(T, (*TRADE, "price"), 2668),
    "trade size number": mutate(T, (*TRADE, "size"), 1),
    "trade price zero": mutate(T, (*TRADE, "price"), "0.00"),
    "trade price negative": mutate(T, (*TRADE, "price"), "-1.5"),
    "trade size negative": mutate(T, (*TRADE, "size"), "-0.1"),
    "trade size negative zero": mutate(T, (*TRADE, "size"), "-0"),
    "trade price NaN": mutate(T, (*TRADE, "price"), "NaN"),
    "trade price sNaN": mutate(T, (*TRADE, "price"), "sNaN"),
    "trade price Infinity": mutate(T, (*TRADE, "price"), "Infinity"),
    "trade size -Infinity": mutate(T, (*TRADE, "size"), "-Infinity"),
    "trade price spaces": mutate(T, (*TRADE, "price"), " 1.5 "),
    "trade price underscore": mutate(T, (*TRADE, "price"), "1_000"),
    "trade price arabic digits": mutate(T, (*TRADE, "price"), "\u0661\u0662"),
    "trade price empty": mutate(T, (*TRADE, "price"), ""),
    "trade price dot": mutate(T, (*TRADE, "price"), "."),
    "trade price hex": mutate(T, (*TRADE, "price"), "0x10"),
    "trade price 19 fractional digits": mutate(T, (*TRADE, "price"), "0.0000000000000000001"),
    "trade size 21 integer digits": mutate(T, (*TRADE, "size"), "100000000000000000000"),
    "trade price exponent too small": mutate(T, (*TRADE, "price"), "1E-19"),
    "trade size exponent too large": mutate(T, (*TRADE, "size"), "1E+20"),
    "trade size huge exponent": mutate(T, (*TRADE, "size"), "1E+999999999"),
    "trade size huge number": mutate(T, (*TRADE, "size"), "9" * 400),
    "trade side lower case": mutate(T, (*TRADE, "side"), "buy"),
    "trade side unknown": mutate(T, (*TRADE, "side"), "UNKNOWN_ORDER_SIDE"),
    "trade side empty": mutate(T, (*TRADE, "side"), ""),
    "trade side bool": mutate(T, (*TRADE, "side"), True),
    "trade id integer": mutate(T, (*TRADE, "trade_id"), 846149798),
    "trade id empty": mutate(T, (*TRADE, "trade_id"), ""),
    "trade id with space": mutate(T, (*TRADE, "trade_id"), "84614 9798"),
    "trade id too long": mutate(T, (*TRADE, "trade_id"), "1" * 65),
    "trade product lower case": mutate(T, (*TRADE, "product_id"), "eth-usd"),
    "trade product no dash": mutate(T, (*TRADE, "product_id"), "ETHUSD"),
    "trade product US future": mutate(T, (*TRADE, "product_id"), "BIT-28JUN24-CDE"),
    "trade product number": mutate(T, (*TRADE, "product_id"), 7),
    "trade product list": mutate(T, (*TRADE, "product_id"), ["ETH-USD"]),
    "trade time epoch number": mutate(T, (*TRADE, "time"), 1790735993),
    "trade time no zone": mutate(T, (*TRADE, "time"), "2026-09-30T01:41:25.375232"),
    # l2_data
    "book product missing": mutate(B, ("events", 0, "product_id"), ...),
    "book updates missing": mutate(B, ("events", 0, "updates"), ...),
    "book update not object": mutate(B, LEVEL, ["bid", "1", "1"]),
    "book side ask": mutate(B, (*LEVEL, "side"), "ask"),
    "book side buy": mutate(B, (*LEVEL, "side"), "buy"),
    "book side missing": mutate(B, (*LEVEL, "side"), ...),
    "book price zero": mutate(B, (*LEVEL, "price_level"), "0"),
    "book price missing": mutate(B, (*LEVEL, "price_level"), ...),
    "book quantity missing": mutate(B, (*LEVEL, "new_quantity"), ...),
    "book quantity negative": mutate(B, (*LEVEL, "new_quantity"), "-1"),
    "book quantity number": mutate(B, (*LEVEL, "new_quantity"), 0),
    "book event_time missing": mutate(B, (*LEVEL, "event_time"), ...),
    "book event_time garbage": mutate(B, (*LEVEL, "event_time"), "now"),
    # ticker
    "ticker type wrong": mutate(K, (*TICK, "type"), "candle"),
    "ticker product missing": mutate(K, (*TICK, "product_id"), ...),
    "ticker price NaN": mutate(K, (*TICK, "price"), "NaN"),
    "ticker best bid number": mutate(K, (*TICK, "best_bid"), 64281.7),
    "ticker volume negative": mutate(K, (*TICK, "volume_24_h"), "-1"),
    "tickers missing": mutate(K, ("events", 0, "tickers"), ...),
    "ticker not object": mutate(K, TICK, None),
    # Advanced Trade control frames
    "heartbeat counter float": mutate(HEARTBEAT, ("events", 0, "heartbeat_counter"), 1.5),
    "heartbeat counter negative": mutate(HEARTBEAT, ("events", 0, "heartbeat_counter"), -1),
    "heartbeat counter text": mutate(HEARTBEAT, ("events", 0, "heartbeat_counter"), "three"),
    "heartbeat counter missing": mutate(HEARTBEAT, ("events", 0, "heartbeat_counter"), ...),
    "heartbeat current_time number": mutate(HEARTBEAT, ("events", 0, "current_time"), 1),
    "heartbeat event not object": mutate(HEARTBEAT, ("events", 0), 21697),
    "heartbeat sequence_num missing": mutate(HEARTBEAT, ("sequence_num",), ...),
    "subscriptions not object": mutate(SUBSCRIPTIONS, ("events", 0, "subscriptions"), ["level2"]),
    "subscriptions missing": mutate(SUBSCRIPTIONS, ("events", 0, "subscriptions"), ...),
    "subscriptions products not list": mutate(SUBSCRIPTIONS, ("events", 0, "subscriptions", "level2"), "BTC-USD"),
    "subscriptions product not string": mutate(SUBSCRIPTIONS, ("events", 0, "subscriptions", "level2"), [1]),
    # Exchange
    "unknown type": json.dumps(match(type="received")),
    "type not string": json.dumps(match(type=1)),
    **{f"match missing {key}": json.dumps(match(**{key: ...})) for key in MATCH_FIELDS},
    "match trade id string": json.dumps(match(trade_id="1081862675")),
    "match trade id float": json.dumps(match(trade_id=1.0)),
    "match trade id bool": json.dumps(match(trade_id=True)),
    "match trade id negative": json.dumps(match(trade_id=-1)),
    "match trade id beyond 64 bits": json.dumps(match(trade_id=2**64)),
    "match sequence string": json.dumps(match(sequence="1")),
    "match side upper case": json.dumps(match(side="SELL")),
    "match order id number": json.dumps(match(maker_order_id=5)),
    "match price number": json.dumps(match(price=80691.53)),
    "match price negative": json.dumps(match(price="-80691.53")),
    "match product unsupported": json.dumps(match(product_id="BTC-USD-PERP")),
    "ex ticker sequence missing": json.dumps({"type": "ticker", "product_id": "BTC-USD", "price": "1"}),
    "ex ticker trade id string": json.dumps({"type": "ticker", "sequence": 1, "product_id": "A-B", "trade_id": "1"}),
    "ex heartbeat last_trade_id missing": mutate(EX_HEARTBEAT, ("last_trade_id",), ...),
    "ex heartbeat time missing": mutate(EX_HEARTBEAT, ("time",), ...),
    "ex heartbeat product missing": mutate(EX_HEARTBEAT, ("product_id",), ...),
    "ex subscriptions channels missing": mutate(EX_SUBSCRIPTIONS, ("channels",), ...),
    "ex subscriptions channel not object": mutate(EX_SUBSCRIPTIONS, ("channels", 0), "matches"),
    "ex subscriptions name missing": mutate(EX_SUBSCRIPTIONS, ("channels", 0, "name"), ...),
    "ex subscriptions products not list": mutate(EX_SUBSCRIPTIONS, ("channels", 0, "product_ids"), None),
    "error without message": b'{"type":"error"}',
    "error message number": b'{"type":"error","message":5}',
}  # fmt: skip


def test_malformed_frames_raise_parse_error() -> None:
    # One test over every case (the per-test fixtures of this suite cost more than the parsing).
    accepted, silent = [], []
    for name, raw in MALFORMED.items():
        try:
            coinbase.parse(raw, RECEIVED)
        except ParseError as error:
            if not str(error):
                silent.append(name)
        else:
            accepted.append(name)
    assert not accepted, f"accepted malformed frames: {accepted}"
    assert not silent, f"errors must say what is wrong: {silent}"
    assert len(MALFORMED) > 120


def test_parse_error_names_the_problem() -> None:
    with pytest.raises(ParseError, match="'price'"):
        coinbase.parse(mutate(T, (*TRADE, "price"), 1.5), RECEIVED)
    with pytest.raises(ParseError, match="fractional digits"):
        coinbase.parse(mutate(T, (*TRADE, "price"), "0.0000000000000000001"), RECEIVED)
    with pytest.raises(ParseError, match="INTX perpetual"):
        coinbase.parse(mutate(T, (*TRADE, "product_id"), "BIT-28JUN24-CDE"), RECEIVED)
    with pytest.raises(ParseError, match="candles"):
        coinbase.parse(mutate(T, ("channel",), "candles"), RECEIVED)
    with pytest.raises(ParseError, match="'side'"):
        coinbase.parse(mutate(T, (*TRADE, "side"), "buy"), RECEIVED)


# --- fuzzing: nothing but ParseError ever escapes ----------------------------------------------


def parse_or_parse_error(raw: str | bytes) -> None:
    try:
        result = coinbase.parse(raw, RECEIVED)
    except ParseError:
        pass
    else:
        assert isinstance(result, ParsedFrame)
        assert (result.control is None) or not result.records
        for record in result.records:
            assert type(record.ts_event) is int and 0 <= record.ts_event <= MAX_NS
            assert record.ts_recv == RECEIVED and record.venue == "coinbase"
            if isinstance(record, Trade):
                assert record.price > 0 and record.price.is_finite() and record.size >= 0
                assert record.side in ("buy", "sell")
            elif isinstance(record, BookUpdate):
                assert all(lv.price > 0 and lv.size >= 0 for lv in (*record.bids, *record.asks))
            else:
                assert isinstance(record, Ticker)
                assert all(value >= 0 and value.is_finite() for value in decimals_of(record))
    try:
        sequence = coinbase.sequence_of(raw)
    except ParseError:
        return
    assert sequence is None or (type(sequence.sequence) is int and 0 <= sequence.sequence <= MAX_NS)


@given(st.binary(max_size=512))
@FUZZ
def test_arbitrary_bytes(raw: bytes) -> None:
    parse_or_parse_error(raw)


@given(st.text(max_size=512))
@FUZZ
def test_arbitrary_text(raw: str) -> None:
    parse_or_parse_error(raw)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(
    sorted(
        {
            "channel", "type", "timestamp", "sequence_num", "events", "trades", "updates", "tickers",
            "subscriptions", "heartbeat_counter", "current_time", "product_id", "trade_id", "price", "size",
            "side", "time", "event_time", "price_level", "new_quantity", "best_bid", "best_ask",
            "best_bid_quantity", "best_ask_quantity", "volume_24_h", "sequence", "last_trade_id", "message",
            "channels", "name", "product_ids", "best_bid_size", "best_ask_size", "volume_24h",
        }
    )
)  # fmt: skip
DECIMAL_TEXT = st.one_of(
    st.from_regex(r"-?[0-9]{0,25}(\.[0-9]{0,25})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["NaN", "-NaN", "sNaN", "Infinity", "-Inf", "1_0", " 1", "1 ", "\u0661", ""]),
)
TIME_TEXT = st.one_of(
    st.from_regex(TIME_PATTERN, fullmatch=True),
    st.sampled_from(["1970-01-01T00:00:00Z", "2262-04-11T23:47:16.854775808Z", "0001-01-01T00:00:00Z"]),
)  # fmt: skip


def containers(value: Any) -> list[dict[str, Any] | list[Any]]:
    """Every object and array inside a JSON value, the value itself first."""
    found: list[dict[str, Any] | list[Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            found.append(item)
            stack.extend(item.values() if isinstance(item, dict) else item)
    return found


@st.composite
def mutated_frames(draw: st.DrawFn) -> str | bytes:
    frame = json.loads(draw(st.sampled_from([frame["raw"] for frame in FRAMES])))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(containers(frame)))
        if isinstance(target, list):
            if target and draw(st.sampled_from([True, False])):
                del target[draw(st.integers(min_value=0, max_value=len(target) - 1))]
            else:
                target.append(draw(JSON_VALUES))
            continue
        key = draw(st.sampled_from(sorted(target)) | KEYS) if target else draw(KEYS)
        action = draw(st.sampled_from(["delete", "replace", "decimal", "time"]))
        if action == "delete":
            target.pop(key, None)
        elif action == "replace":
            target[key] = draw(JSON_VALUES)
        elif action == "decimal":
            target[key] = draw(DECIMAL_TEXT)
        else:
            target[key] = draw(TIME_TEXT)
    text = json.dumps(frame)
    return maybe_damaged(draw, text, truncate=True)


@given(mutated_frames())
@FUZZ
def test_mutated_valid_frames(raw: str | bytes) -> None:
    parse_or_parse_error(raw)


@given(JSON_VALUES, st.sampled_from(["market_trades", "l2_data", "ticker", "heartbeats", "subscriptions"]))
@FUZZ
def test_arbitrary_json(value: object, channel: str) -> None:
    parse_or_parse_error(json.dumps(value))
    envelope = {"channel": channel, "timestamp": "2026-09-30T02:39:53Z", "sequence_num": 1}
    parse_or_parse_error(json.dumps({**envelope, "events": value}))
    parse_or_parse_error(json.dumps({**envelope, "events": [value]}))
    for key in ("trades", "updates", "tickers"):
        parse_or_parse_error(json.dumps({**envelope, "events": [{"type": "update", key: [value]}]}))
    parse_or_parse_error(json.dumps({"type": "match", "product_id": "BTC-USD", "side": value}))


# --- symbols and subscriptions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "instrument"),
    [
        ("BTC-USD", "BTC-USD"),
        ("BTC-USDC", "BTC-USDC"),
        ("USDT-USDC", "USDT-USDC"),
        ("EURC-USDC", "EURC-USDC"),
        ("ETH-BTC", "ETH-BTC"),
        ("BTC-EUR", "BTC-EUR"),
        ("1INCH-USD", "1INCH-USD"),
        ("00-USD", "00-USD"),
        ("BTC-PERP-INTX", "BTC-USDC-PERP"),
        ("1000SHIB-PERP-INTX", "1000SHIB-USDC-PERP"),
    ],
)
def test_symbol_mapping_round_trips(symbol: str, instrument: str) -> None:
    assert coinbase.to_instrument(symbol) == instrument
    assert coinbase.to_symbol(instrument) == symbol


def test_usd_and_usdc_stay_apart() -> None:
    assert coinbase.to_instrument("BTC-USD") != coinbase.to_instrument("BTC-USDC")
    assert coinbase.to_symbol("BTC-USDC") == "BTC-USDC"


@pytest.mark.parametrize(
    "symbol",
    ["", "btc-usd", "BTCUSD", "BTC_USD", "BTC-", "-USD", "BTC-USD-", "BIT-28JUN24-CDE", "BTC-USD\u0661"],
)
def test_unknown_products_raise_parse_error(symbol: str) -> None:
    with pytest.raises(ParseError):
        coinbase.to_instrument(symbol)


@pytest.mark.parametrize(
    "instrument", ["BTCUSD", "btc-usd", "BTC-USD-PERP", "BTC-USDT-PERP", "BTC-USD-20261225", "KALSHI:KXBTC", ""]
)
def test_to_symbol_refuses_what_coinbase_does_not_list(instrument: str) -> None:
    with pytest.raises(ValueError):
        coinbase.to_symbol(instrument)


def test_advanced_trade_subscription_messages() -> None:
    assert (
        coinbase.subscribe_message(["BTC-USD", "ETH-USD"], "market_trades")
        == '{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"market_trades"}'
    )
    assert (
        coinbase.unsubscribe_message(["BTC-USD"], "level2")
        == '{"type":"unsubscribe","product_ids":["BTC-USD"],"channel":"level2"}'
    )
    assert coinbase.subscribe_message([], "heartbeats") == '{"type":"subscribe","channel":"heartbeats"}'
    assert json.loads(coinbase.subscribe_message(["BTC-USDC-PERP"], "ticker", jwt="a.b.c")) == {
        "type": "subscribe",
        "product_ids": ["BTC-PERP-INTX"],
        "channel": "ticker",
        "jwt": "a.b.c",
    }
    assert json.loads(coinbase.subscribe_message(["BTC-USD"], "ticker_batch"))["channel"] == "ticker_batch"


def test_exchange_subscription_messages() -> None:
    assert (
        coinbase.subscribe_message(["BTC-USD"], "matches", feed="exchange")
        == '{"type":"subscribe","product_ids":["BTC-USD"],"channels":["matches"]}'
    )
    assert json.loads(coinbase.unsubscribe_message(["ETH-BTC"], "heartbeat", feed="exchange")) == {
        "type": "unsubscribe",
        "product_ids": ["ETH-BTC"],
        "channels": ["heartbeat"],
    }


@pytest.mark.parametrize(
    ("instruments", "channel", "options"),
    [
        (["BTC-USD"], "matches", {}),
        (["BTC-USD"], "market_trades", {"feed": "exchange"}),
        (["BTC-USD"], "level2", {"feed": "kraken"}),
        ([], "market_trades", {}),
        ([], "matches", {"feed": "exchange"}),
        (["BTC-USD"], "matches", {"feed": "exchange", "jwt": "x"}),
        (["btc-usd"], "market_trades", {}),
        ("BTC-USD", "market_trades", {}),
    ],
)
def test_bad_subscription_requests(instruments: Any, channel: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        coinbase.subscribe_message(instruments, channel, **options)


# --- REST history ------------------------------------------------------------------------------


def test_exchange_rest_request_pages_by_trade_id() -> None:
    assert coinbase.rest_trades_request("BTC-USD") == ("/products/BTC-USD/trades", {"limit": "1000"})
    assert coinbase.rest_trades_request("ETH-BTC", older_than=1081862675, limit=100) == (
        "/products/ETH-BTC/trades",
        {"limit": "100", "after": "1081862675"},
    )
    for bad in ({"older_than": 0}, {"older_than": -5}, {"older_than": "7"}, {"limit": 0}, {"limit": 1001}):
        with pytest.raises(ValueError):
            coinbase.rest_trades_request("BTC-USD", **bad)
    for instrument in ("BTC-USDC-PERP", "btc-usd", "BTC-USD-20261225"):
        with pytest.raises(ValueError):
            coinbase.rest_trades_request(instrument)


def test_advanced_trade_rest_request_pages_by_time() -> None:
    start, end = ns("2026-09-30T02:39:42.159464Z"), ns("2026-09-30T02:39:53.354654Z")
    assert coinbase.rest_market_trades_request("BTC-USD", start_ns=start, end_ns=end) == (
        "/api/v3/brokerage/market/products/BTC-USD/ticker",
        {"limit": "1000", "start": str(start // 10**9), "end": str(end // 10**9 + 1)},
    )
    whole = ns("2026-09-30T02:39:42Z")
    assert coinbase.rest_market_trades_request("BTC-USDC-PERP", start_ns=whole, end_ns=whole, limit=5) == (
        "/api/v3/brokerage/market/products/BTC-PERP-INTX/ticker",
        {"limit": "5", "start": str(whole // 10**9), "end": str(whole // 10**9)},
    )
    for bad in (
        {"start_ns": end, "end_ns": start},
        {"start_ns": -1, "end_ns": 0},
        {"start_ns": 0, "end_ns": 1, "limit": 0},
    ):
        with pytest.raises(ValueError):
            coinbase.rest_market_trades_request("BTC-USD", **bad)


def rest(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_parse_exchange_rest_docs_example() -> None:
    assert coinbase.parse_rest_trades(rest("rest_exchange_trades_docs.json"), RECEIVED, "BTC-USD") == [
        Trade(
            venue="coinbase",
            instrument="BTC-USD",
            symbol="BTC-USD",
            trade_id="86327327",
            price=Decimal("6225.32000000"),
            size=Decimal("0.06469797"),
            side="buy",  # a sell maker: the taker bought
            ts_event=ns("2020-03-20T00:36:59.860Z"),
            ts_recv=RECEIVED,
        )
    ]


def test_parse_advanced_rest_examples() -> None:
    (docs,) = coinbase.parse_rest_trades(rest("rest_advanced_trades_docs.json"), RECEIVED, "BTC-USD")
    assert docs.trade_id == "34b080bf-fcfd-445a-832b-46b5ddc65601" and docs.side == "unknown"
    assert docs.price == Decimal("140.91") and docs.size == Decimal("4")
    assert docs.ts_event == ns("2021-05-31T09:59:59.000Z")
    (ccxt,) = coinbase.parse_rest_trades(rest("rest_advanced_trades_ccxt.json"), RECEIVED, "BTC-USDT")
    assert (ccxt.instrument, ccxt.trade_id, ccxt.side, str(ccxt.size)) == ("BTC-USDT", "10092327", "sell", "0.0000623")


def test_repaired_trades_equal_streamed_trades() -> None:
    streamed = {t.trade_id: t for name in ("ex_match", "ex_last_match") for t in parse_records(BY_NAME[name]["raw"])}
    repaired = coinbase.parse_rest_trades(rest("rest_exchange_trades_page.json"), RECEIVED, "BTC-USD")
    assert [t.trade_id for t in repaired] == ["1081862675", "1081862674"]
    assert all(t == streamed[t.trade_id] for t in repaired)
    streamed = {
        t.trade_id: t
        for name in ("adv_market_trades_at_the_touch", "adv_market_trades_sweep_down")
        for t in parse_records(BY_NAME[name]["raw"])
    }
    repaired = coinbase.parse_rest_trades(rest("rest_advanced_trades_page.json"), RECEIVED, "BTC-USD")
    assert [t.trade_id for t in repaired] == ["1100253481", "1100253455", "1100253454"]
    assert all(t == streamed[t.trade_id] for t in repaired)
    assert coinbase.parse_rest_trades(b"[]", RECEIVED, "BTC-USD") == []
    assert coinbase.parse_rest_trades(b'{"trades":[]}', RECEIVED, "BTC-USD") == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"message":"NotFound"}',
        b'{"error":"NOT_FOUND","error_details":"product not found","message":"product not found"}',
        b"",
        b"[",
        b"42",
        b'"trades"',
        b'{"trades":{}}',
        b'[{"time":"2020-03-20T00:36:59.860Z","trade_id":"86327327","price":"6225.32","size":"1","side":"sell"}]',
        b'[{"time":"2020-03-20T00:36:59.860Z","trade_id":86327327,"price":6225.32,"size":"1","side":"sell"}]',
        b'[{"time":"2020-03-20T00:36:59.860Z","trade_id":86327327,"price":"6225.32","size":"1","side":"SELL"}]',
        b'[{"time":"2020-03-20","trade_id":86327327,"price":"6225.32","size":"1","side":"sell"}]',
        b"[1]",
        b'{"trades":[{"trade_id":"1","product_id":"ETH-USD","price":"1","size":"1","time":"2021-05-31T09:59:59Z","side":"BUY"}]}',
        b'{"trades":[{"trade_id":"1","price":"1","size":"1","time":"2021-05-31T09:59:59Z","side":"buy"}]}',
        b'{"trades":[{"trade_id":"1","price":"0","size":"1","time":"2021-05-31T09:59:59Z","side":"BUY"}]}',
    ],
)
def test_bad_rest_bodies_raise_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        coinbase.parse_rest_trades(body, RECEIVED, "BTC-USD")


def test_rest_for_an_unlisted_instrument_raises_parse_error() -> None:
    with pytest.raises(ParseError):
        coinbase.parse_rest_trades(b"[]", RECEIVED, "BTC-USD-20261225")


@given(st.one_of(st.binary(max_size=256), JSON_VALUES.map(lambda value: json.dumps(value).encode())))
@FUZZ
def test_rest_fuzz(body: bytes) -> None:
    for wrapped in (body, b'{"trades":[' + body + b"]}", b"[" + body + b"]"):
        try:
            trades = coinbase.parse_rest_trades(wrapped, RECEIVED, "BTC-USD")
        except ParseError:
            continue
        assert all(isinstance(t, Trade) and t.price > 0 and t.size >= 0 for t in trades)

"""The Kraken v2 parser against documented and captured frames, exact decimals, times, checksums, REST and fuzzing."""

from __future__ import annotations

import json
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from venue_fuzz import maybe_damaged

from contracts.records import BookUpdate, Level, Lifecycle, Ticker, Trade
from contracts.schemas import encode
from streaming.errors import ParseError
from streaming.venues import kraken
from streaming.venues.base import ParsedFrame

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kraken"
FRAMES: list[dict[str, Any]] = [
    json.loads(line) for line in (FIXTURES / "frames.jsonl").read_text().splitlines() if line
]
BY_NAME = {frame["name"]: frame for frame in FRAMES}
RECEIVED = 1_800_000_000_000_000_000

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def records_of(name: str) -> tuple[Any, ...]:
    frame = BY_NAME[name]
    return kraken.parse(frame["raw"], frame["received_at"]).records


def trade_frame(**changes: Any) -> str:
    """A trade update as Kraken sends it; number values are given as their JSON token text."""
    fields: dict[str, Any] = {
        "symbol": '"BTC/USD"',
        "side": '"sell"',
        "price": "71749.0",
        "qty": "0.00220616",
        "ord_type": '"limit"',
        "trade_id": "97184416",
        "timestamp": '"2026-03-15T11:26:23.023215Z"',
    }
    fields.update(changes)
    body = ",".join(f'"{key}":{token}' for key, token in fields.items() if token is not ...)
    return '{"channel":"trade","type":"update","data":[{' + body + "}]}"


def parse_trade(raw: str) -> Trade:
    frame = kraken.parse(raw, RECEIVED)
    assert frame.control is None and len(frame.records) == 1
    record = frame.records[0]
    assert isinstance(record, Trade)
    return record


def levels(pairs: list[list[str]]) -> tuple[Level, ...]:
    return tuple(Level(price=Decimal(price), size=Decimal(size)) for price, size in pairs)


def optional(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def book_of(name: str) -> BookUpdate:
    (record,) = records_of(name)
    assert isinstance(record, BookUpdate)
    return record


def expected_records(expect: dict[str, Any]) -> tuple[Any, ...]:
    if "trades" in expect:
        return tuple(
            Trade(
                venue="kraken",
                instrument=item["instrument"],
                symbol=item["symbol"],
                trade_id=item["trade_id"],
                price=Decimal(item["price"]),
                size=Decimal(item["size"]),
                side=item["side"],
                ts_event=item["ts_event"],
                ts_recv=item["ts_recv"],
            )
            for item in expect["trades"]
        )
    if "books" in expect:
        return tuple(
            BookUpdate(
                venue="kraken",
                instrument=item["instrument"],
                symbol=item["symbol"],
                kind=item["kind"],
                bids=levels(item["bids"]),
                asks=levels(item["asks"]),
                ts_event=item["ts_event"],
                ts_recv=item["ts_recv"],
                checksum=item["checksum"],
            )
            for item in expect["books"]
        )
    if "tickers" in expect:
        return tuple(
            Ticker(
                venue="kraken",
                instrument=item["instrument"],
                symbol=item["symbol"],
                ts_event=item["ts_event"],
                ts_recv=item["ts_recv"],
                best_bid=optional(item["best_bid"]),
                best_bid_size=optional(item["best_bid_size"]),
                best_ask=optional(item["best_ask"]),
                best_ask_size=optional(item["best_ask_size"]),
                last_price=optional(item["last_price"]),
                volume_24h=optional(item["volume_24h"]),
            )
            for item in expect["tickers"]
        )
    return tuple(Lifecycle(venue="kraken", **item) for item in expect["lifecycle"])


def decimals_of(record: Any) -> list[Decimal]:
    if isinstance(record, Trade):
        return [record.price, record.size]
    if isinstance(record, BookUpdate):
        return [value for level in (*record.bids, *record.asks) for value in (level.price, level.size)]
    if isinstance(record, Ticker):
        values = [record.best_bid, record.best_bid_size, record.best_ask, record.best_ask_size, record.last_price]
        return [value for value in (*values, record.volume_24h) if value is not None]
    return []


# --- documented and captured frames ------------------------------------------------------------


def test_fixtures_cover_every_kind() -> None:
    assert len(BY_NAME) == len(FRAMES), "fixture names must be unique"
    kinds = {(json.loads(frame["raw"]).get("channel"), json.loads(frame["raw"]).get("type")) for frame in FRAMES}
    for channel in ("trade", "book", "ticker"):
        assert (channel, "snapshot") in kinds
    assert {("trade", "update"), ("book", "update"), ("status", "update"), ("heartbeat", None)} <= kinds
    assert {frame["expect"].get("control") for frame in FRAMES} >= {"ack", "error", "heartbeat"}
    methods = {json.loads(frame["raw"]).get("method") for frame in FRAMES}
    assert {"subscribe", "unsubscribe", "pong"} <= methods
    assert all(frame["source"] for frame in FRAMES)


@pytest.mark.parametrize("frame", FRAMES, ids=[frame["name"] for frame in FRAMES])
def test_fixture_frame(frame: dict[str, Any]) -> None:
    expect = frame["expect"]
    for raw in (frame["raw"], frame["raw"].encode()):
        parsed = kraken.parse(raw, frame["received_at"])
        if "control" in expect:
            assert parsed == ParsedFrame(channel=expect["channel"], control=expect["control"])
            continue
        assert parsed.control is None
        assert parsed.channel == expect["channel"]
        wanted = expected_records(expect)
        assert parsed.records == wanted
        for got, want in zip(parsed.records, wanted, strict=True):
            # The wire's digits, not merely equal values: 0.12290 keeps its trailing zero.
            assert [value.as_tuple() for value in decimals_of(got)] == [value.as_tuple() for value in decimals_of(want)]
            assert type(got.ts_event) is int and type(got.ts_recv) is int


@pytest.mark.parametrize("frame", FRAMES, ids=[frame["name"] for frame in FRAMES])
def test_records_fit_the_avro_contracts(frame: dict[str, Any]) -> None:
    names = {Trade: "trade", BookUpdate: "book_update", Ticker: "ticker", Lifecycle: "lifecycle"}
    for record in kraken.parse(frame["raw"], frame["received_at"]).records:
        encode(names[type(record)], record.to_record(RECEIVED + 1))  # type: ignore[arg-type]


def test_snapshot_trade_ids_are_the_per_book_sequence() -> None:
    ids = [int(trade.trade_id) for trade in records_of("trade_snapshot_docs")]
    assert ids == [4665846, 4665847]


def test_control_frames_are_never_data() -> None:
    for frame in FRAMES:
        parsed = kraken.parse(frame["raw"], RECEIVED)
        assert (parsed.control is None) != ("control" in frame["expect"])
        if parsed.control is not None:
            assert parsed.records == ()


@pytest.mark.parametrize(
    ("raw", "control"),
    [
        ('{"method":"subscribe","result":{"channel":"trade","symbol":"BTC/USD"},"success":true}', "ack"),
        ('{"method":"subscribe","result":[],"success":true}', "ack"),
        ('{"method":"subscribe","success":false,"error":"Already subscribed","req_id":2}', "error"),
        ('{"method":"subscribe","error":"Unsupported field"}', "error"),
        ('{"error":"ESession:Invalid session"}', "error"),
        ('{"method":"pong"}', "heartbeat"),
        ('{"channel":"heartbeat","extra":1}', "heartbeat"),
    ],
)
def test_reply_shapes(raw: str, control: str) -> None:
    parsed = kraken.parse(raw, RECEIVED)
    assert parsed.control == control and parsed.records == ()


# --- exact decimals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("0.12290", "0.12290"),
        ("5.1e-05", "0.000051"),
        ("5.1E-5", "0.000051"),
        ("0.00000123", "0.00000123"),
        ("12000000000", "12000000000"),
        ("12000000000.00000000", "12000000000.00000000"),
        ("1E+3", "1E+3"),
        ("45281.0", "45281.0"),
        ("0.000000000000000001", "1E-18"),
        ("99999999999999999999.999999999999999999", "99999999999999999999.999999999999999999"),
        ("1.000000000000000000000000", "1.000000000000000000"),  # zeros beyond the scale: rescaled, same value
        ("0.10000000", "0.10000000"),
    ],
)
def test_json_numbers_stay_exact(token: str, expected: str) -> None:
    trade = parse_trade(trade_frame(price=token, qty=token))
    for value in (trade.price, trade.size):
        assert value == Decimal(expected)
        assert value.as_tuple() == Decimal(expected).as_tuple()


def test_the_wire_text_survives() -> None:
    trade = parse_trade(trade_frame(price="0.12290", qty="5.1e-05"))
    assert str(trade.price) == "0.12290"
    assert trade.size == Decimal("0.000051") and format(trade.size, "f") == "0.000051"
    # A float round trip would have lost the trailing zero: the parser never makes one.
    assert str(float("0.12290")) == "0.1229"


def test_zero_quantity_is_allowed_but_not_zero_price() -> None:
    assert parse_trade(trade_frame(qty="0.00000000")).size == 0
    with pytest.raises(ParseError, match="zero"):
        parse_trade(trade_frame(price="0.0"))


@given(st.decimals(min_value=Decimal("1E-18"), max_value=Decimal("1E20") - 1, places=18, allow_nan=False))
@FUZZ
def test_every_storable_decimal_round_trips(value: Decimal) -> None:
    token = format(value, "f")
    trade = parse_trade(trade_frame(price=token, qty=token))
    assert trade.price == value and trade.size == value
    assert trade.price.as_tuple() == Decimal(token).as_tuple()


# --- times -------------------------------------------------------------------------------------

BASE_NS = 1_695_628_177_000_000_000  # 2023-09-25T07:49:37Z


@pytest.mark.parametrize("digits", range(10))
def test_rfc3339_fractions_of_0_to_9_digits(digits: int) -> None:
    fraction = "123456789"[:digits]
    text = "2023-09-25T07:49:37" + (f".{fraction}" if digits else "") + "Z"
    assert kraken.parse_timestamp(text) == BASE_NS + (int(fraction.ljust(9, "0")) if digits else 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-09-25T07:49:37.708706Z", 1_695_628_177_708_706_000),
        ("2023-09-25T07:49:37.000000001Z", BASE_NS + 1),
        ("2023-09-25T07:49:37.5z", BASE_NS + 500_000_000),
        ("2023-09-25t07:49:37Z", BASE_NS),
        ("2023-09-25T09:49:37+02:00", BASE_NS),
        ("2023-09-25T02:19:37.25-05:30", BASE_NS + 250_000_000),
        ("2023-09-25T07:49:37+00:00", BASE_NS),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000_000_000),
        ("1970-01-01T00:00:00.000000001Z", 1),
        ("2262-04-11T23:47:16.854775807Z", 2**63 - 1),
    ],
)
def test_rfc3339_exact(text: str, expected: int) -> None:
    assert kraken.parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2023-09-25T07:49:37",  # no zone
        "2023-09-25 07:49:37Z",
        "2023-09-25T07:49:37.Z",
        "2023-09-25T07:49:37.1234567890Z",  # 10 digits
        "2023-09-25T07:49Z",
        "2023-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2023-09-31T00:00:00Z",
        "2023-09-25T24:00:00Z",
        "2023-09-25T07:60:00Z",
        "2016-12-31T23:59:60Z",  # leap second
        "2023-09-25T07:49:37+24:00",
        "2023-09-25T07:49:37+05:60",
        "0000-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",  # not after the epoch
        "1969-12-31T23:59:59Z",
        "2262-04-11T23:47:16.854775808Z",  # beyond a signed 64-bit count of ns
        "9999-12-31T23:59:59Z",
        "\uff12\uff10\uff12\uff13-09-25T07:49:37Z",  # full-width digits
        "2023-09-25T07:49:37.\uff17Z",
        " 2023-09-25T07:49:37Z",
        "2023-09-25T07:49:37Z ",
        "1695628177",
    ],
)
def test_rfc3339_refusals(text: str) -> None:
    with pytest.raises(ParseError):
        kraken.parse_timestamp(text)


def test_frame_times_and_their_absence() -> None:
    assert parse_trade(trade_frame(timestamp='"2024-01-02T03:04:05.123456789Z"')).ts_event == 1_704_164_645_123_456_789
    with pytest.raises(ParseError, match="timestamp"):
        parse_trade(trade_frame(timestamp=...))
    snapshot = book_of("book_snapshot_capture_ethusd")  # snapshots used to carry no timestamp
    assert snapshot.ts_event == snapshot.ts_recv == BY_NAME["book_snapshot_capture_ethusd"]["received_at"]


# --- book checksum -----------------------------------------------------------------------------

GUIDE_STRING = (
    "45285210000045286415457195345286615457110945289615456091145290215890660452918154553491"
    "452947445474945296135380000452975994554245299518772827"
    "452835100000004528341545820154528211000000045281010000000452803154592586452790799000045277633101034527753000000"
    "045277315460273745276615445238"
)
"""The asks-then-bids string of Kraken's worked example (book checksum guide), whose CRC32 is 3310070434."""


def test_checksum_guide_worked_example() -> None:
    assert zlib.crc32(GUIDE_STRING.encode()) == 3310070434
    book = book_of("book_snapshot_checksum_guide")
    assert book.checksum == 3310070434
    assert kraken.book_checksum(book.bids, book.asks) == 3310070434
    tokens = "".join(kraken.checksum_token(v) for level in (*book.asks, *book.bids) for v in (level.price, level.size))
    assert tokens == GUIDE_STRING
    # The guide's single-level walk-through.
    assert kraken.checksum_token("45285.2") + kraken.checksum_token("0.00100000") == "452852100000"


@pytest.mark.parametrize(
    "frame", [frame for frame in FRAMES if "checksum_from_levels" in frame], ids=lambda frame: frame["name"]
)
def test_snapshot_checksums_verify(frame: dict[str, Any]) -> None:
    book = book_of(frame["name"])
    precisions = frame["checksum_from_levels"]
    assert kraken.book_checksum(book.bids, book.asks, **precisions) == book.checksum
    # Levels given as (price, qty) text pairs, in any order, give the same answer.
    pairs = [(format(level.price, "f"), format(level.size, "f")) for level in reversed(book.bids)]
    assert kraken.book_checksum(pairs, list(book.asks), **precisions) == book.checksum


def test_shortened_numbers_need_the_pair_precisions() -> None:
    matic = book_of("book_snapshot_docs_matic")
    assert kraken.book_checksum(matic.bids, matic.asks) != matic.checksum
    assert kraken.book_checksum(matic.bids, matic.asks, price_precision=4, qty_precision=8) == matic.checksum
    btc = book_of("book_snapshot_capture_btcusd_reserialized")
    assert kraken.book_checksum(btc.bids, btc.asks) != btc.checksum  # 5.1e-05 is not 0.00005100
    assert kraken.book_checksum(btc.bids, btc.asks, price_precision=1, qty_precision=8) == btc.checksum
    # Full-precision text needs no precision, and padding it changes nothing.
    guide = book_of("book_snapshot_checksum_guide")
    assert kraken.book_checksum(guide.bids, guide.asks, price_precision=1, qty_precision=8) == guide.checksum


def apply(book: dict[str, dict[Decimal, Decimal]], update: BookUpdate, depth: int) -> None:
    """A minimal test-only reducer: apply levels in wire order, drop zeros, truncate to the depth."""
    for side, changes, best_first in (("bids", update.bids, True), ("asks", update.asks, False)):
        for level in changes:
            if level.size:
                book[side][level.price] = level.size
            else:
                book[side].pop(level.price, None)
        kept = sorted(book[side], reverse=best_first)[:depth]
        book[side] = {price: book[side][price] for price in kept}


@pytest.mark.parametrize(
    ("snapshot", "update", "precisions"),
    [
        ("book_snapshot_capture_ethusd", "book_update_capture_ethusd", {}),
        ("book_snapshot_docs_matic", "book_update_docs_matic", {"price_precision": 4, "qty_precision": 8}),
    ],
)
def test_update_checksums_verify_after_applying(snapshot: str, update: str, precisions: dict[str, int]) -> None:
    first = book_of(snapshot)
    delta = book_of(update)
    book: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
    apply(book, first, depth=10)
    apply(book, delta, depth=10)
    assert kraken.book_checksum(book["bids"].items(), book["asks"].items(), **precisions) == delta.checksum
    # A lost update shows as a mismatch: the snapshot's book does not give the update's checksum.
    stale: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
    apply(stale, first, depth=10)
    assert kraken.book_checksum(stale["bids"].items(), stale["asks"].items(), **precisions) != delta.checksum


def test_checksum_uses_only_the_top_ten_a_side() -> None:
    book = book_of("book_snapshot_checksum_guide")
    deeper_bids = [*book.bids, Level(Decimal("45200.0"), Decimal("9.00000000"))]
    deeper_asks = [Level(Decimal("45400.0"), Decimal("9.00000000")), *book.asks]
    assert kraken.book_checksum(reversed(deeper_bids), deeper_asks) == 3310070434
    assert kraken.book_checksum([], []) == zlib.crc32(b"")


@pytest.mark.parametrize(
    ("value", "precision", "token"),
    [
        ("0.00100000", None, "100000"),
        ("45285.2", None, "452852"),
        ("45281.0", None, "452810"),
        ("0.566", 4, "5660"),
        ("0.5660", 4, "5660"),
        ("45281", 1, "452810"),
        ("0.000051", 8, "5100"),
        ("5.1e-05", 8, "5100"),
        ("0.06000000000", 8, "6000000"),  # zeros beyond the precision are dropped
        ("0.123", 2, "123"),  # digits beyond the precision are kept: such a book cannot match
        ("1E+3", None, "1000"),
        ("383320500.00000", 5, "38332050000000"),
    ],
)
def test_checksum_tokens(value: str, precision: int | None, token: str) -> None:
    assert kraken.checksum_token(value, precision) == token
    assert kraken.checksum_token(Decimal(value), precision) == token


@pytest.mark.parametrize(
    ("bids", "asks", "kwargs"),
    [
        ([("1.0", "0")], [], {}),  # a removal left in the book
        ([("1.0", "1"), ("1.00", "2")], [], {}),  # the same price twice
        ([("-1.0", "1")], [], {}),
        ([("NaN", "1")], [], {}),
        ([(Decimal("NaN"), Decimal(1))], [], {}),
        ([(Decimal("-1"), Decimal(1))], [], {}),
        ([(1.5, "1")], [], {}),  # a float is refused
        ([["1.0", "1"]], [], {}),  # neither a Level nor a pair
        ([("1.0", "1", "2")], [], {}),
        ([], [], {"price_precision": -1}),
        ([], [], {"qty_precision": True}),
        ([], [], {"qty_precision": 19}),
    ],
)
def test_checksum_refusals(bids: Any, asks: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        kraken.book_checksum(bids, asks, **kwargs)


# --- malformed frames --------------------------------------------------------------------------


def book_frame(body: str, kind: str = "update") -> str:
    return '{"channel":"book","type":"' + kind + '","data":[{"symbol":"BTC/USD",' + body + "}]}"


MALFORMED: dict[str, str | bytes] = {
    "empty": b"",
    "not json": b"hello",
    "truncated": trade_frame()[:-5],
    "trailing garbage": trade_frame() + "x",
    "invalid utf-8": b'{"channel":"trade","type":"update","data":[{"symbol":"\xff"}]}',
    "utf-16": '{"channel":"heartbeat"}'.encode("utf-16"),
    "array": b"[1,2]",
    "string": b'"trade"',
    "number": b"42",
    "null": b"null",
    "empty object": b"{}",
    "unknown keys": b'{"foo":1}',
    "nested too deep": b"[" * 100_000,
    "nested too deep in data": b'{"channel":"trade","type":"update","data":' + b"[" * 100_000,
    "NaN literal": trade_frame(price="NaN"),
    "Infinity literal": trade_frame(qty="Infinity"),
    "-Infinity literal": trade_frame(qty="-Infinity"),
    "unknown channel": '{"channel":"ohlc","type":"update","data":[]}',
    "channel not string": '{"channel":5,"type":"update","data":[]}',
    "channel null": '{"channel":null,"type":"update","data":[]}',
    "type missing": '{"channel":"trade","data":[]}',
    "type unknown": '{"channel":"trade","type":"delta","data":[]}',
    "data missing": '{"channel":"trade","type":"update"}',
    "data object": '{"channel":"trade","type":"update","data":{}}',
    "data entry not object": '{"channel":"trade","type":"update","data":[[1]]}',
    "symbol missing": trade_frame(symbol=...),
    "symbol v1 array form": trade_frame(symbol='["BTC/USD"]'),
    "symbol without slash": trade_frame(symbol='"BTCUSD"'),
    "symbol canonical form": trade_frame(symbol='"BTC-USD"'),
    "symbol lower case": trade_frame(symbol='"btc/usd"'),
    "symbol two slashes": trade_frame(symbol='"BTC/USD/X"'),
    "symbol empty base": trade_frame(symbol='"/USD"'),
    "symbol non-ascii": trade_frame(symbol='"BTÇ/USD"'),
    "side missing": trade_frame(side=...),
    "side upper case": trade_frame(side='"Buy"'),
    "side b": trade_frame(side='"b"'),
    "ord_type number": trade_frame(ord_type="1"),
    "price string": trade_frame(price='"71749.0"'),
    "price bool": trade_frame(price="true"),
    "price null": trade_frame(price="null"),
    "price missing": trade_frame(price=...),
    "price negative": trade_frame(price="-1.5"),
    "price zero": trade_frame(price="0"),
    "qty negative zero": trade_frame(qty="-0.0"),
    "qty negative": trade_frame(qty="-0.1"),
    "qty missing": trade_frame(qty=...),
    "19 fractional digits": trade_frame(price="0.0000000000000000001"),
    "exponent too small": trade_frame(price="1e-19"),
    "21 integer digits": trade_frame(qty="100000000000000000000"),
    "exponent too large": trade_frame(qty="1E+20"),
    "huge exponent": trade_frame(qty="1e999999999999"),
    "huge integer": trade_frame(qty="1" + "0" * 5000),
    "trade id string": trade_frame(trade_id='"97184416"'),
    "trade id float": trade_frame(trade_id="97184416.0"),
    "trade id bool": trade_frame(trade_id="true"),
    "trade id negative": trade_frame(trade_id="-1"),
    "trade id beyond 64 bits": trade_frame(trade_id="18446744073709551616"),
    "trade id missing": trade_frame(trade_id=...),
    "timestamp number": trade_frame(timestamp="1695628177"),
    "timestamp v1 text": trade_frame(timestamp='"1534614057.321597"'),
    "timestamp no zone": trade_frame(timestamp='"2023-09-25T07:49:37.708706"'),
    "book checksum missing": book_frame('"bids":[],"asks":[]'),
    "book checksum string": book_frame('"bids":[],"asks":[],"checksum":"1"'),
    "book checksum negative": book_frame('"bids":[],"asks":[],"checksum":-1'),
    "book checksum beyond 32 bits": book_frame('"bids":[],"asks":[],"checksum":4294967296'),
    "book bids missing": book_frame('"asks":[],"checksum":1'),
    "book asks object": book_frame('"bids":[],"asks":{},"checksum":1'),
    "book level array": book_frame('"bids":[[45283.5,0.1]],"asks":[],"checksum":1'),
    "book level price string": book_frame('"bids":[{"price":"45283.5","qty":0.1}],"asks":[],"checksum":1'),
    "book level qty missing": book_frame('"bids":[{"price":45283.5}],"asks":[],"checksum":1'),
    "book level price zero": book_frame('"bids":[{"price":0.0,"qty":1}],"asks":[],"checksum":1'),
    "book level qty negative": book_frame('"asks":[{"price":1.5,"qty":-1}],"bids":[],"checksum":1'),
    "book timestamp bad": book_frame('"bids":[],"asks":[],"checksum":1,"timestamp":"yesterday"'),
    "ticker bid string": '{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":"1.5"}]}',
    "ticker volume negative": '{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","volume":-5.0}]}',
    "ticker symbol missing": '{"channel":"ticker","type":"update","data":[{"bid":1.5}]}',
    "status system missing": '{"channel":"status","type":"update","data":[{"api_version":"v2"}]}',
    "status system empty": '{"channel":"status","type":"update","data":[{"system":""}]}',
    "status system number": '{"channel":"status","type":"update","data":[{"system":1}]}',
    "method not string": '{"method":1,"success":true}',
    "reply without success": '{"method":"subscribe","result":{}}',
    "reply success string": '{"method":"subscribe","success":"true"}',
    "reply req_id string": '{"method":"subscribe","success":true,"req_id":"1"}',
    "reply req_id float": '{"method":"subscribe","success":true,"req_id":1.0}',
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_frames_raise_parse_error(raw: str | bytes) -> None:
    with pytest.raises(ParseError) as caught:
        kraken.parse(raw, RECEIVED)
    assert str(caught.value), "the error must say what is wrong"


def test_parse_errors_name_the_field() -> None:
    with pytest.raises(ParseError, match="'price'"):
        kraken.parse(trade_frame(price='"1.5"'), RECEIVED)
    with pytest.raises(ParseError, match="fractional digits"):
        kraken.parse(trade_frame(qty="0.0000000000000000001"), RECEIVED)
    with pytest.raises(ParseError, match="checksum"):
        kraken.parse(book_frame('"bids":[],"asks":[],"checksum":-1'), RECEIVED)
    with pytest.raises(ParseError, match="unsupported channel"):
        kraken.parse('{"channel":"ohlc","type":"update","data":[]}', RECEIVED)


# --- fuzzing: nothing but ParseError ever escapes ----------------------------------------------


def check_records(result: ParsedFrame) -> None:
    assert isinstance(result, ParsedFrame)
    assert (result.control is None) or result.records == ()
    for record in result.records:
        for value in decimals_of(record):
            assert isinstance(value, Decimal) and value.is_finite() and not value.is_signed()
            assert value.as_tuple().exponent >= -18  # type: ignore[operator]
        if isinstance(record, Trade):
            assert record.price > 0 and record.side in ("buy", "sell")
        if isinstance(record, BookUpdate):
            assert record.checksum is not None and 0 <= record.checksum < 2**32
        assert type(record.ts_event) is int and 0 < record.ts_event < 2**63


def parse_or_parse_error(raw: str | bytes) -> None:
    try:
        result = kraken.parse(raw, RECEIVED)
    except ParseError:
        return
    check_records(result)


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
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
TOP_KEYS = ["channel", "type", "data", "method", "success", "result", "error", "req_id"]
ITEM_KEYS = [
    "symbol",
    "side",
    "price",
    "qty",
    "ord_type",
    "trade_id",
    "timestamp",
    "bids",
    "asks",
    "checksum",
    "bid",
    "bid_qty",
    "ask",
    "ask_qty",
    "last",
    "volume",
    "system",
]
NUMBER_TOKENS = st.one_of(
    st.from_regex(r"-?[0-9]{1,25}(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "-0", "1e999999", '"1.5"', "true", "null", "[]", "{}"]),
)
TIME_TOKENS = st.one_of(
    st.from_regex(
        r'"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}'
        r'(\.[0-9]{0,11})?([Zz]|[+-][0-9]{2}:[0-9]{2})?"'
    ),
    st.sampled_from(['"2023-09-25T07:49:37.708706Z"', "1695628177", '""', "null"]),
)


class Token(str):
    """A JSON token to splice into a frame verbatim (a number as written, or deliberately invalid text)."""


def dumps_exact(value: Any) -> str:
    """JSON text of a decoded frame with every number written as its original token (never via a float)."""
    tokens: dict[str, str] = {}

    def swap(node: Any) -> Any:
        if isinstance(node, Decimal | Token):
            marker = f"\u0000{len(tokens)}\u0000"
            tokens[json.dumps(marker)] = str(node)
            return marker
        if isinstance(node, list):
            return [swap(item) for item in node]
        if isinstance(node, dict):
            return {key: swap(item) for key, item in node.items()}
        return node

    text = json.dumps(swap(value))
    for marker, token in tokens.items():
        text = text.replace(marker, token, 1)
    return text


def test_dumps_exact_keeps_number_tokens() -> None:
    for frame in FRAMES:
        assert json.loads(dumps_exact(json.loads(frame["raw"], parse_float=Decimal))) == json.loads(frame["raw"])
        assert dumps_exact(json.loads(frame["raw"], parse_float=Decimal)).count("0.10000000") == frame["raw"].count(
            "0.10000000"
        )


@st.composite
def mutated_frames(draw: st.DrawFn) -> str | bytes:
    frame = json.loads(draw(st.sampled_from([frame["raw"] for frame in FRAMES])), parse_float=Decimal)
    data = frame.get("data")
    targets: list[Any] = [frame]
    if isinstance(data, list):
        targets += [item for item in data if isinstance(item, dict)]
        for item in data:
            for side in ("bids", "asks"):
                if isinstance(item, dict) and isinstance(item.get(side), list):
                    targets += [level for level in item[side] if isinstance(level, dict)]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(targets))
        key = draw(st.sampled_from([*TOP_KEYS, *ITEM_KEYS, *list(target)[:8]]))
        action = draw(st.sampled_from(["delete", "replace", "number", "time"]))
        if action == "delete":
            target.pop(key, None)
        elif action == "replace":
            target[key] = draw(JSON_VALUES)
        else:
            target[key] = Token(draw(NUMBER_TOKENS if action == "number" else TIME_TOKENS))
    text = dumps_exact(frame)
    return maybe_damaged(draw, text)


@given(mutated_frames())
@FUZZ
def test_mutated_fixture_frames(raw: str | bytes) -> None:
    parse_or_parse_error(raw)


@given(JSON_VALUES)
@FUZZ
def test_arbitrary_json(value: object) -> None:
    parse_or_parse_error(json.dumps(value))
    for channel in ("trade", "book", "ticker", "status"):
        parse_or_parse_error(json.dumps({"channel": channel, "type": "update", "data": [value]}))
    parse_or_parse_error(json.dumps({"method": "subscribe", "success": value}))


@given(TIME_TOKENS | st.text(max_size=40))
@settings(FUZZ, max_examples=100)
def test_arbitrary_times(text: str) -> None:
    try:
        ns = kraken.parse_timestamp(text.strip('"'))
    except ParseError:
        return
    assert type(ns) is int and 0 < ns < 2**63


# --- REST history ------------------------------------------------------------------------------


def rest_body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_rest_request() -> None:
    assert kraken.rest_trades_request("BTC-USD", 1688669597827737000) == (
        "/0/public/Trades",
        {"pair": "XBTUSD", "since": "1688669597827737000", "count": "1000"},
    )
    assert kraken.rest_trades_request("ETH-USD", None) == ("/0/public/Trades", {"pair": "ETHUSD", "count": "1000"})
    assert kraken.rest_trades_request("DOGE-BTC", 0)[1]["pair"] == "XDGXBT"
    for bad in (-1, 1.5, "1", True, 2**63):
        with pytest.raises(ValueError):
            kraken.rest_trades_request("BTC-USD", bad)  # type: ignore[arg-type]
    for instrument in ("BTCUSD", "btc-usd", "XBT-USD", "BTC-USD-PERP"):
        with pytest.raises(ValueError):
            kraken.rest_trades_request(instrument, None)


def test_rest_docs_example() -> None:
    trades = kraken.parse_rest_trades(rest_body("rest_trades_docs.json"), RECEIVED, "BTC-USD")
    expected = [
        ("61044952", "30243.40000", "0.34507674", "buy", 1_688_669_597_827_737_000),
        ("61044953", "30243.30000", "0.00376960", "sell", 1_688_669_598_280_411_000),
        ("61044956", "30243.30000", "0.01235716", "sell", 1_688_669_602_698_379_000),
    ]
    assert trades == [
        Trade("kraken", "BTC-USD", "BTC/USD", trade_id, Decimal(price), Decimal(size), side, ts, RECEIVED)  # type: ignore[arg-type]
        for trade_id, price, size, side, ts in expected
    ]
    assert [trade.price.as_tuple() for trade in trades] == [Decimal(item[1]).as_tuple() for item in expected]
    assert kraken.rest_trades_next_since(rest_body("rest_trades_docs.json")) == 1688671969993150842


def test_rest_copy_of_a_streamed_trade_is_the_same_record() -> None:
    (streamed,) = records_of("trade_update_capture_btcusd")
    repaired = kraken.parse_rest_trades(rest_body("rest_trades_btcusd_constructed.json"), RECEIVED, "BTC-USD")
    assert [trade.trade_id for trade in repaired] == ["97184415", "97184416", "97184417"]
    same = repaired[1]
    assert (same.venue, same.symbol, same.trade_id) == (streamed.venue, streamed.symbol, streamed.trade_id)
    assert same == streamed  # same side, ts_event, price and size values, instrument


@pytest.mark.parametrize(
    "key", ["XXBTZUSD", "XBTUSD", "BTCUSD", "BTC/USD", "XBT/USD"], ids=lambda key: key.replace("/", "_")
)
def test_rest_pair_key_spellings(key: str) -> None:
    body = json.dumps({"error": [], "result": {key: [["1.5", "2", 1700000000, "b", "l", "", 3]], "last": "1"}})
    (trade,) = kraken.parse_rest_trades(body.encode(), RECEIVED, "BTC-USD")
    assert trade.symbol == "BTC/USD" and trade.ts_event == 1_700_000_000_000_000_000


def good_entry(**changes: Any) -> list[Any]:
    entry: dict[str, Any] = {"p": "30243.40000", "v": "0.34507674", "t": 1688669597.8277369, "s": "b", "o": "m"}
    entry.update({"m": "", "id": 61044952, **changes})
    return [value for value in entry.values() if value is not ...]


def rest(entries: Any, key: str = "XXBTZUSD", error: Any = ()) -> bytes:
    return json.dumps({"error": list(error), "result": {key: entries, "last": "1"}}).encode()


REST_MALFORMED: dict[str, bytes] = {
    "error answer": rest_body("rest_trades_error.json"),
    "not json": b"<html>502</html>",
    "array": b"[]",
    "error not a list": b'{"error":"x","result":{}}',
    "result missing": b'{"error":[]}',
    "other pair": rest([good_entry()], key="XETHZUSD"),
    "two pairs": b'{"error":[],"result":{"XXBTZUSD":[],"XETHZUSD":[],"last":"1"}}',
    "entries not a list": rest({}),
    "entry not a list": rest([{}]),
    "entry without trade id (pre-2023)": rest([good_entry(id=...)]),
    "trade id string": rest([good_entry(id="61044952")]),
    "price number": rest([good_entry(p=30243.4)]),
    "price negative": rest([good_entry(p="-1")]),
    "price zero": rest([good_entry(p="0.00000")]),
    "price NaN": rest([good_entry(p="NaN")]),
    "volume empty": rest([good_entry(v="")]),
    "time string": rest([good_entry(t="1688669597.8277369")]),
    "time zero": rest([good_entry(t=0)]),
    "time huge": rest([good_entry(t=1e300)]),
    "side word": rest([good_entry(s="buy")]),
    "order type number": rest([good_entry(o=1)]),
    "nested too deep": b"[" * 100_000,
}


@pytest.mark.parametrize("body", list(REST_MALFORMED.values()), ids=list(REST_MALFORMED))
def test_rest_malformed(body: bytes) -> None:
    with pytest.raises(ParseError):
        kraken.parse_rest_trades(body, RECEIVED, "BTC-USD")


def test_rest_next_since_refusals() -> None:
    for body in (b"{}", b'{"result":{"last":1}}', b'{"result":{"last":"12a"}}', b"[", b"null"):
        with pytest.raises(ParseError):
            kraken.rest_trades_next_since(body)


def test_rest_time_rounds_to_the_microsecond() -> None:
    for seconds, ns in [
        ("1688669597.8277369", 1_688_669_597_827_737_000),
        ("1688669597.8277365", 1_688_669_597_827_736_000),  # half-even
        ("1688669597.8277375", 1_688_669_597_827_738_000),
        ("1688669597", 1_688_669_597_000_000_000),
    ]:
        body = b'{"error":[],"result":{"XXBTZUSD":[["1","1",' + seconds.encode() + b',"s","l","",1]],"last":"1"}}'
        (trade,) = kraken.parse_rest_trades(body, RECEIVED, "BTC-USD")
        assert trade.ts_event == ns


@st.composite
def mutated_rest_bodies(draw: st.DrawFn) -> bytes:
    answer = json.loads(rest_body("rest_trades_docs.json"), parse_float=Decimal)
    entries = answer["result"]["XXBTZUSD"]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        entry = draw(st.sampled_from(entries))
        position = draw(st.integers(min_value=0, max_value=7))
        value = draw(JSON_VALUES | NUMBER_TOKENS.map(Token))
        if position < len(entry):
            entry[position] = value
        else:
            entry.append(value)
    return dumps_exact(answer).encode()


@given(mutated_rest_bodies() | st.binary(max_size=256))
@FUZZ
def test_rest_fuzz(body: bytes) -> None:
    try:
        trades = kraken.parse_rest_trades(body, RECEIVED, "BTC-USD")
    except ParseError:
        return
    for trade in trades:
        assert trade.price > 0 and trade.size >= 0 and trade.side in ("buy", "sell")


# --- symbols and subscriptions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "instrument"),
    [
        ("BTC/USD", "BTC-USD"),
        ("ETH/BTC", "ETH-BTC"),
        ("MATIC/GBP", "MATIC-GBP"),
        ("USDT/USD", "USDT-USD"),
        ("1INCH/EUR", "1INCH-EUR"),
        ("DOGE/USD", "DOGE-USD"),
    ],
)
def test_symbol_mapping(symbol: str, instrument: str) -> None:
    assert kraken.to_instrument(symbol) == instrument
    assert kraken.to_symbol(instrument) == symbol


@pytest.mark.parametrize(("symbol", "instrument"), [("XBT/USD", "BTC-USD"), ("XDG/XBT", "DOGE-BTC")])
def test_legacy_codes_map_to_common_codes(symbol: str, instrument: str) -> None:
    assert kraken.to_instrument(symbol) == instrument
    assert kraken.to_symbol(instrument) == instrument.replace("-", "/")


@pytest.mark.parametrize("symbol", ["", "BTCUSD", "BTC-USD", "btc/usd", "BTC/", "/USD", "BTC/USD/EUR", "BTC /USD"])
def test_unknown_symbols_raise_parse_error(symbol: str) -> None:
    with pytest.raises(ParseError):
        kraken.to_instrument(symbol)


@pytest.mark.parametrize("instrument", ["BTC/USD", "btc-usd", "XBT-USD", "XDG-USD", "BTC-USD-PERP", "KALSHI:X"])
def test_to_symbol_refuses_what_is_not_canonical_spot(instrument: str) -> None:
    with pytest.raises(ValueError):
        kraken.to_symbol(instrument)


def test_subscription_messages() -> None:
    assert json.loads(kraken.subscribe_message("book", ["BTC/USD", "ETH/USD"], 1, depth=25, snapshot=True)) == {
        "method": "subscribe",
        "params": {"channel": "book", "symbol": ["BTC/USD", "ETH/USD"], "depth": 25, "snapshot": True},
        "req_id": 1,
    }
    assert kraken.subscribe_message("trade", ["BTC/USD"], 2, snapshot=False) == (
        '{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"],"snapshot":false},"req_id":2}'
    )
    assert json.loads(kraken.subscribe_message("ticker", ["ALGO/USD"], 3, event_trigger="bbo"))["params"] == {
        "channel": "ticker",
        "symbol": ["ALGO/USD"],
        "event_trigger": "bbo",
    }
    assert json.loads(kraken.unsubscribe_message("book", ["BTC/USD"], 4, depth=25)) == {
        "method": "unsubscribe",
        "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 25},
        "req_id": 4,
    }
    assert kraken.unsubscribe_message("trade", ["BTC/USD"], 5) == (
        '{"method":"unsubscribe","params":{"channel":"trade","symbol":["BTC/USD"]},"req_id":5}'
    )
    assert kraken.ping_message(7) == '{"method":"ping","req_id":7}'


@pytest.mark.parametrize(
    ("channel", "symbols", "req_id", "params"),
    [
        ("ohlc", ["BTC/USD"], 1, {}),
        ("book", [], 1, {}),
        ("book", "BTC/USD", 1, {}),
        ("book", ["BTC-USD"], 1, {}),
        ("trade", ["XBT/EUR"], 1, {}),  # v2 refuses legacy codes
        ("book", ["BTC/USD"], -1, {}),
        ("book", ["BTC/USD"], True, {}),
        ("book", ["BTC/USD"], "1", {}),
        ("book", ["BTC/USD"], 1, {"depth": 27}),
        ("book", ["BTC/USD"], 1, {"depth": "10"}),
        ("book", ["BTC/USD"], 1, {"snapshot": "yes"}),
        ("trade", ["BTC/USD"], 1, {"depth": 10}),
        ("ticker", ["BTC/USD"], 1, {"event_trigger": "book"}),
    ],
)
def test_subscription_refusals(channel: Any, symbols: Any, req_id: Any, params: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        kraken.subscribe_message(channel, symbols, req_id, **params)


def test_unsubscribe_takes_no_snapshot_flag() -> None:
    with pytest.raises(ValueError):
        kraken.unsubscribe_message("trade", ["BTC/USD"], 1, snapshot=True)
    with pytest.raises(ValueError):
        kraken.ping_message(-1)

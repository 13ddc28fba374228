"""The Binance spot book parser: depthUpdate diffs, bookTicker, the REST depth snapshot; fixtures and fuzzing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from venue_fuzz import maybe_damaged

from contracts.records import BookUpdate, Level, Ticker
from streaming.errors import ParseError
from streaming.venues import binance
from streaming.venues.base import ParsedFrame

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "binance" / "books.jsonl"
FRAMES: list[dict[str, Any]] = [json.loads(line) for line in FIXTURES.read_text().splitlines() if line]
RECEIVED = 1_800_000_000_000_000_000
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Binance spot REST docs, "Order book" (GET /api/v3/depth) response example.
DOCS_DEPTH = b'{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}'


def levels(pairs: list[list[str]]) -> tuple[Level, ...]:
    return tuple(Level(Decimal(price), Decimal(size)) for price, size in pairs)


def depth_frame(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "e": "depthUpdate",
        "E": 1672515782136,
        "s": "BNBBTC",
        "U": 157,
        "u": 160,
        "b": [["0.0024", "10"]],
        "a": [["0.0026", "100"]],
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not ...}


def ticker_frame(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "u": 400900217,
        "s": "BNBUSDT",
        "b": "25.35190000",
        "B": "31.21000000",
        "a": "25.36520000",
        "A": "40.66000000",
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not ...}


def test_fixtures_cover_every_kind() -> None:
    names = {frame["name"] for frame in FRAMES}
    assert len(names) == len(FRAMES), "fixture names must be unique"
    raws = [frame["raw"] for frame in FRAMES]
    assert any(raw.startswith('{"stream"') and '@depth@100ms"' in raw for raw in raws)
    assert any(raw.startswith('{"stream"') and '@depth"' in raw for raw in raws)
    assert any(raw.startswith('{"e":"depthUpdate"') for raw in raws)
    assert any(raw.startswith('{"stream"') and "@bookTicker" in raw for raw in raws)
    assert any(raw.startswith('{"u"') for raw in raws)


@pytest.mark.parametrize("frame", FRAMES, ids=[frame["name"] for frame in FRAMES])
def test_captured_frame(frame: dict[str, Any]) -> None:
    for raw in (frame["raw"], frame["raw"].encode()):
        parsed = binance.parse(raw, frame["received_at"])
        expect = frame["expect"]
        assert parsed.control is None
        assert parsed.channel == expect["channel"]
        (record,) = parsed.records
        if "book" in expect:
            item = expect["book"]
            assert record == BookUpdate(
                venue="binance",
                instrument=item["instrument"],
                symbol=item["symbol"],
                kind=item["kind"],
                bids=levels(item["bids"]),
                asks=levels(item["asks"]),
                ts_event=item["ts_event"],
                ts_recv=item["ts_recv"],
                first_sequence=item["first_sequence"],
                sequence=item["sequence"],
            )
            assert isinstance(record, BookUpdate)
            for got, (price, size) in zip(record.bids + record.asks, item["bids"] + item["asks"], strict=True):
                assert got.price.as_tuple() == Decimal(price).as_tuple()  # the wire's digits
                assert got.size.as_tuple() == Decimal(size).as_tuple()
        else:
            item = expect["ticker"]
            assert record == Ticker(
                venue="binance",
                instrument=item["instrument"],
                symbol=item["symbol"],
                ts_event=item["ts_event"],
                ts_recv=item["ts_recv"],
                best_bid=Decimal(item["best_bid"]),
                best_bid_size=Decimal(item["best_bid_size"]),
                best_ask=Decimal(item["best_ask"]),
                best_ask_size=Decimal(item["best_ask_size"]),
                sequence=item["sequence"],
            )


def test_book_ticker_has_no_event_time_so_the_receive_time_is_used() -> None:
    (ticker,) = binance.parse(json.dumps(ticker_frame()), 123).records
    assert isinstance(ticker, Ticker)
    assert (ticker.ts_event, ticker.ts_recv) == (123, 123)


def test_stream_names_accept_book_channels() -> None:
    assert binance.stream_names(["BTC-USDT"], "depth@100ms") == ["btcusdt@depth@100ms"]
    assert binance.stream_names(["BTC-USDT"], "depth") == ["btcusdt@depth"]
    assert binance.stream_names(["BTC-USDT", "ETH-USDT"], "bookTicker") == ["btcusdt@bookTicker", "ethusdt@bookTicker"]
    with pytest.raises(ValueError, match="unknown Binance channel"):
        binance.stream_names(["BTC-USDT"], "depth20")  # type: ignore[arg-type]


def test_rest_depth_request_and_docs_example() -> None:
    assert binance.rest_depth_request("BNB-BTC") == ("/api/v3/depth", {"symbol": "BNBBTC", "limit": "5000"})
    assert binance.rest_depth_request("BTC-USDT", 100)[1]["limit"] == "100"
    for bad in (0, 5001):
        with pytest.raises(ValueError):
            binance.rest_depth_request("BTC-USDT", bad)
    snapshot = binance.parse_rest_depth(DOCS_DEPTH, 7, "BNB-BTC")
    assert snapshot == BookUpdate(
        venue="binance",
        instrument="BNB-BTC",
        symbol="BNBBTC",
        kind="snapshot",
        bids=(Level(Decimal("4.00000000"), Decimal("431.00000000")),),
        asks=(Level(Decimal("4.00000200"), Decimal("12.00000000")),),
        ts_event=7,
        ts_recv=7,
        sequence=1027024,
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"code":-1121,"msg":"Invalid symbol."}',
        b"[]",
        b"not json",
        b'{"lastUpdateId":"1","bids":[],"asks":[]}',
        b'{"lastUpdateId":1,"bids":[["1"]],"asks":[]}',
        b'{"lastUpdateId":1,"bids":[[1.5,"1"]],"asks":[]}',
        b'{"lastUpdateId":1,"bids":[],"asks":{}}',
        b'{"lastUpdateId":1,"bids":[["0","1"]],"asks":[]}',
        b'{"lastUpdateId":-1,"bids":[],"asks":[]}',
    ],
)
def test_bad_rest_depth_bodies_raise_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        binance.parse_rest_depth(body, 7, "BTC-USDT")


MALFORMED: dict[str, str] = {
    "U after u": json.dumps(depth_frame(U=161)),
    "missing U": json.dumps(depth_frame(U=...)),
    "missing u": json.dumps(depth_frame(u=...)),
    "u string": json.dumps(depth_frame(u="160")),
    "missing event time": json.dumps(depth_frame(E=...)),
    "bids not a list": json.dumps(depth_frame(b={"0.1": "1"})),
    "missing asks": json.dumps(depth_frame(a=...)),
    "level not a pair": json.dumps(depth_frame(b=[["0.0024"]])),
    "level numeric price": json.dumps(depth_frame(b=[[0.0024, "10"]])),
    "level zero price": json.dumps(depth_frame(a=[["0", "10"]])),
    "level negative size": json.dumps(depth_frame(a=[["0.0026", "-1"]])),
    "level 19 fractional digits": json.dumps(depth_frame(a=[["0.0000000000000000001", "1"]])),
    "depth symbol unknown quote": json.dumps(depth_frame(s="BTCXYZ")),
    "depth stream mismatch symbol": json.dumps({"stream": "ethbtc@depth", "data": depth_frame()}),
    "depth on a trade stream": json.dumps({"stream": "bnbbtc@trade", "data": depth_frame()}),
    "depth on a 500ms stream": json.dumps({"stream": "bnbbtc@depth@500ms", "data": depth_frame()}),
    "ticker missing bid": json.dumps(ticker_frame(b=...)),
    "ticker zero ask": json.dumps(ticker_frame(a="0.00000000")),
    "ticker numeric size": json.dumps(ticker_frame(B=31.21)),
    "ticker u string": json.dumps(ticker_frame(u="1")),
    "ticker symbol not string": json.dumps(ticker_frame(s=1)),
    "ticker stream mismatch": json.dumps({"stream": "btcusdt@bookTicker", "data": ticker_frame()}),
    "ticker on a depth stream": json.dumps({"stream": "bnbusdt@depth", "data": ticker_frame()}),
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_book_frames_raise_parse_error(raw: str) -> None:
    with pytest.raises(ParseError) as caught:
        binance.parse(raw, RECEIVED)
    assert str(caught.value)


# --- fuzzing: nothing but ParseError ever escapes ----------------------------------------------


def parse_or_parse_error(raw: str | bytes) -> None:
    try:
        result = binance.parse(raw, RECEIVED)
    except ParseError:
        return
    assert isinstance(result, ParsedFrame)
    for record in result.records:
        if isinstance(record, BookUpdate):
            assert record.first_sequence is not None and record.sequence is not None
            assert record.first_sequence <= record.sequence
            assert all(level.price > 0 and level.size >= 0 for level in record.bids + record.asks)
        elif isinstance(record, Ticker):
            assert record.best_bid is not None and record.best_bid > 0
            assert record.best_ask is not None and record.best_ask > 0


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(["e", "E", "s", "U", "u", "b", "a", "B", "A", "stream", "data"])
DECIMAL_TEXT = st.one_of(
    st.from_regex(r"-?[0-9]{0,25}(\.[0-9]{0,25})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["NaN", "-NaN", "Infinity", "1_0", " 1", ""]),
)


@st.composite
def mutated_frames(draw: st.DrawFn) -> str | bytes:
    frame = json.loads(draw(st.sampled_from([frame["raw"] for frame in FRAMES])))
    target = frame.get("data", frame)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        key = draw(KEYS)
        action = draw(st.sampled_from(["delete", "replace", "decimal", "level"]))
        if action == "delete":
            target.pop(key, None)
        elif action == "replace":
            target[key] = draw(JSON_VALUES)
        elif action == "decimal":
            target[key] = draw(DECIMAL_TEXT)
        else:
            target[key] = [[draw(DECIMAL_TEXT), draw(DECIMAL_TEXT | JSON_VALUES)]]
    return maybe_damaged(draw, json.dumps(frame))


@given(mutated_frames())
@FUZZ
def test_mutated_book_frames(raw: str | bytes) -> None:
    parse_or_parse_error(raw)


@given(JSON_VALUES)
@FUZZ
def test_arbitrary_json_on_book_streams(value: object) -> None:
    parse_or_parse_error(json.dumps({"stream": "btcusdt@depth@100ms", "data": value}))
    parse_or_parse_error(json.dumps({"stream": "btcusdt@bookTicker", "data": value}))


@given(st.binary(max_size=256))
@FUZZ
def test_arbitrary_rest_depth_bodies(body: bytes) -> None:
    try:
        snapshot = binance.parse_rest_depth(body, RECEIVED, "BTC-USDT")
    except ParseError:
        return
    assert snapshot.kind == "snapshot" and snapshot.sequence is not None

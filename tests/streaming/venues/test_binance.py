"""The Binance spot parser against captured frames, exact decimals, malformed input and fuzzing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from venue_fuzz import maybe_damaged

from contracts.records import Trade
from streaming.errors import ParseError
from streaming.venues import binance
from streaming.venues.base import ParsedFrame

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "binance" / "frames.jsonl"
FRAMES: list[dict[str, Any]] = [json.loads(line) for line in FIXTURES.read_text().splitlines() if line]
DATA_FRAMES = [frame for frame in FRAMES if "trades" in frame["expect"]]
RECEIVED = 1_800_000_000_000_000_000

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def trade_frame(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "e": "trade",
        "E": 1790649901913,
        "s": "BTCUSDT",
        "t": 6720857582,
        "p": "83034.29000000",
        "q": "0.00062000",
        "T": 1790649901913,
        "m": True,
        "M": True,
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not ...}


def parse_one(payload: dict[str, Any] | str | bytes) -> Trade:
    raw = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    frame = binance.parse(raw, RECEIVED)
    assert frame.control is None
    assert len(frame.records) == 1
    return frame.records[0]


# --- captured frames ---------------------------------------------------------------------------


def test_fixtures_cover_every_kind() -> None:
    names = {frame["name"] for frame in FRAMES}
    assert len(names) == len(FRAMES), "fixture names must be unique"
    raws = [frame["raw"] for frame in DATA_FRAMES]
    assert any(raw.startswith('{"stream"') and '"e":"trade"' in raw for raw in raws)
    assert any(raw.startswith('{"stream"') and '"e":"aggTrade"' in raw for raw in raws)
    assert any(raw.startswith('{"e":"trade"') for raw in raws)
    assert any(raw.startswith('{"e":"aggTrade"') for raw in raws)
    assert {frame["expect"].get("control") for frame in FRAMES} >= {"ack", "error"}


@pytest.mark.parametrize("frame", FRAMES, ids=[frame["name"] for frame in FRAMES])
def test_captured_frame(frame: dict[str, Any]) -> None:
    for raw in (frame["raw"], frame["raw"].encode()):
        parsed = binance.parse(raw, frame["received_at"])
        expect = frame["expect"]
        if "control" in expect:
            assert parsed == ParsedFrame(channel="", control=expect["control"])
            continue
        assert parsed.control is None
        assert parsed.channel == expect["channel"]
        wanted = tuple(
            Trade(
                venue="binance",
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
        assert parsed.records == wanted
        for got, item in zip(parsed.records, expect["trades"], strict=True):
            # Exact text, not just equal value: the wire's scale is kept.
            assert got.price.as_tuple() == Decimal(item["price"]).as_tuple()
            assert got.size.as_tuple() == Decimal(item["size"]).as_tuple()
            assert type(got.ts_event) is int and type(got.ts_recv) is int


def test_side_follows_buyer_is_maker() -> None:
    # m=true: the buyer rested on the book, so the seller was the aggressor.
    assert parse_one(trade_frame(m=True)).side == "sell"
    assert parse_one(trade_frame(m=False)).side == "buy"


def test_millisecond_and_microsecond_times_become_nanoseconds() -> None:
    assert parse_one(trade_frame(T=1790649901913)).ts_event == 1_790_649_901_913_000_000
    assert parse_one(trade_frame(T=1790649901913398)).ts_event == 1_790_649_901_913_398_000
    # The threshold: 1e14 and above are microseconds; below, milliseconds that must fit an int64 of ns.
    assert parse_one(trade_frame(T=100_000_000_000_000)).ts_event == 100_000_000_000_000_000
    assert parse_one(trade_frame(T=9_000_000_000_000)).ts_event == 9_000_000_000_000_000_000
    with pytest.raises(ParseError, match="out of range"):
        parse_one(trade_frame(T=99_999_999_999_999))
    assert parse_one(trade_frame()).ts_recv == RECEIVED


def test_aggregate_trade_id_is_its_trade_range() -> None:
    frame = trade_frame(e="aggTrade", t=..., a=12345, f=100, l=105)
    trade = parse_one({"stream": "btcusdt@aggTrade", "data": frame})
    assert trade.trade_id == "100-105"


# --- exact decimals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.00000123", Decimal("0.00000123")),
        ("12000000000.00000000", Decimal("12000000000")),
        ("5.1E-05", Decimal("0.000051")),
        ("5.1e-5", Decimal("0.000051")),
        ("1E+3", Decimal("1000")),
        ("0.000000000000000001", Decimal("1E-18")),
        ("99999999999999999999.999999999999999999", Decimal("99999999999999999999.999999999999999999")),
        ("1.000000000000000000000000", Decimal("1")),  # trailing zeros beyond the scale still fit
        ("00012.5", Decimal("12.5")),
    ],
)
def test_exact_decimals(text: str, expected: Decimal) -> None:
    trade = parse_one(trade_frame(p=text, q=text))
    assert trade.price == expected and trade.size == expected
    assert trade.price.as_tuple() == Decimal(text).as_tuple()  # the wire's digits, not a float's


def test_decimal_keeps_the_wire_scale() -> None:
    trade = parse_one(trade_frame(p="65000.10000000", q="0.10000000"))
    assert str(trade.price) == "65000.10000000"
    assert str(trade.size) == "0.10000000"


def test_zero_size_is_allowed() -> None:
    assert parse_one(trade_frame(q="0.00000000")).size == 0


@given(st.decimals(min_value=Decimal("1E-18"), max_value=Decimal("1E20") - 1, places=18, allow_nan=False))
@FUZZ
def test_every_storable_decimal_round_trips(value: Decimal) -> None:
    text = format(value, "f")
    trade = parse_one(trade_frame(p=text, q=text))
    assert trade.price == value and trade.size == value


# --- malformed frames --------------------------------------------------------------------------


MALFORMED: dict[str, str | bytes] = {
    "empty": b"",
    "not json": b"hello",
    "truncated": b'{"e":"trade","E":1',
    "invalid utf-8": b'{"e":"trade","s":"\xff"}',
    "lone surrogate": '{"e":"\ud800"}',
    "array": b"[1,2]",
    "string": b'"trade"',
    "number": b"42",
    "null": b"null",
    "empty object": b"{}",
    "unknown keys": b'{"foo":1}',
    "nested too deep": b"[" * 100_000,
    "nan literal": b'{"e":"trade","p":NaN}',
    "data not object": b'{"stream":"btcusdt@trade","data":[1]}',
    "stream missing": json.dumps({"data": trade_frame()}),
    "stream not string": json.dumps({"stream": 5, "data": trade_frame()}),
    "stream mismatch symbol": json.dumps({"stream": "ethusdt@trade", "data": trade_frame()}),
    "stream mismatch channel": json.dumps({"stream": "btcusdt@aggTrade", "data": trade_frame()}),
    "unknown event": json.dumps(trade_frame(e="kline")),
    "event not string": json.dumps(trade_frame(e=1)),
    "missing price": json.dumps(trade_frame(p=...)),
    "missing size": json.dumps(trade_frame(q=...)),
    "missing trade id": json.dumps(trade_frame(t=...)),
    "missing trade time": json.dumps(trade_frame(T=...)),
    "missing event time": json.dumps(trade_frame(E=...)),
    "missing maker flag": json.dumps(trade_frame(m=...)),
    "missing symbol": json.dumps(trade_frame(s=...)),
    "numeric price": json.dumps(trade_frame(p=83034.29)),
    "integer price": json.dumps(trade_frame(p=83034)),
    "numeric size": json.dumps(trade_frame(q=1)),
    "zero price": json.dumps(trade_frame(p="0.00000000")),
    "negative price": json.dumps(trade_frame(p="-1.5")),
    "negative size": json.dumps(trade_frame(q="-0.1")),
    "negative zero size": json.dumps(trade_frame(q="-0")),
    "price NaN": json.dumps(trade_frame(p="NaN")),
    "price sNaN": json.dumps(trade_frame(p="sNaN")),
    "price Infinity": json.dumps(trade_frame(p="Infinity")),
    "size -Infinity": json.dumps(trade_frame(q="-Infinity")),
    "price with spaces": json.dumps(trade_frame(p=" 1.5 ")),
    "price with underscore": json.dumps(trade_frame(p="1_000")),
    "price with arabic digits": json.dumps(trade_frame(p="\u0661\u0662")),
    "price empty": json.dumps(trade_frame(p="")),
    "price dot only": json.dumps(trade_frame(p=".")),
    "price hex": json.dumps(trade_frame(p="0x10")),
    "19 fractional digits": json.dumps(trade_frame(p="0.0000000000000000001")),
    "21 integer digits": json.dumps(trade_frame(q="100000000000000000000")),
    "exponent too small": json.dumps(trade_frame(p="1E-19")),
    "exponent too large": json.dumps(trade_frame(q="1E+20")),
    "huge exponent": json.dumps(trade_frame(q="1E+999999999")),
    "trade id string": json.dumps(trade_frame(t="6720857582")),
    "trade id float": json.dumps(trade_frame(t=1.0)),
    "trade id bool": json.dumps(trade_frame(t=True)),
    "trade id negative": json.dumps(trade_frame(t=-1)),
    "trade id beyond 64 bits": (
        '{"e":"trade","E":1,"s":"BTCUSDT","t":18446744073709551616,"p":"1","q":"1","T":1,"m":true}'
    ),
    "time string": json.dumps(trade_frame(T="1790649901913")),
    "time float": json.dumps(trade_frame(T=1790649901913.5)),
    "time zero": json.dumps(trade_frame(T=0)),
    "time negative": json.dumps(trade_frame(T=-1)),
    "time beyond int64 ns": json.dumps(trade_frame(T=10**17)),
    "maker flag string": json.dumps(trade_frame(m="true")),
    "maker flag int": json.dumps(trade_frame(m=1)),
    "symbol unknown quote": json.dumps(trade_frame(s="BTCXYZ")),
    "symbol is a quote": json.dumps(trade_frame(s="USDT")),
    "symbol not alphanumeric": json.dumps(trade_frame(s="BTC-USDT")),
    "symbol not string": json.dumps(trade_frame(s=["BTCUSDT"])),
    "agg first after last": json.dumps(trade_frame(e="aggTrade", t=..., a=1, f=10, l=9)),
    "agg missing range": json.dumps(trade_frame(e="aggTrade", t=..., a=1)),
    "agg missing id": json.dumps(trade_frame(e="aggTrade", t=..., f=1, l=1)),
    "reply id float": b'{"result":null,"id":1.5}',
    "reply without id": b'{"result":null}',
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_frames_raise_parse_error(raw: str | bytes) -> None:
    with pytest.raises(ParseError) as caught:
        binance.parse(raw, RECEIVED)
    assert str(caught.value), "the error must say what is wrong"


def test_parse_error_names_the_field() -> None:
    with pytest.raises(ParseError, match="'p'"):
        binance.parse(json.dumps(trade_frame(p=1.5)), RECEIVED)
    with pytest.raises(ParseError, match="fractional digits"):
        binance.parse(json.dumps(trade_frame(p="0.0000000000000000001")), RECEIVED)
    with pytest.raises(ParseError, match="quote asset"):
        binance.parse(json.dumps(trade_frame(s="BTCXYZ")), RECEIVED)


# --- fuzzing: nothing but ParseError ever escapes ----------------------------------------------


def parse_or_parse_error(raw: str | bytes) -> None:
    try:
        result = binance.parse(raw, RECEIVED)
    except ParseError:
        return
    assert isinstance(result, ParsedFrame)
    for record in result.records:
        assert isinstance(record.price, Decimal) and record.price > 0 and record.price.is_finite()
        assert isinstance(record.size, Decimal) and record.size >= 0 and record.size.is_finite()
        assert record.side in ("buy", "sell")


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
FIELDS = ["e", "E", "s", "t", "a", "f", "l", "p", "q", "T", "m", "M"]
KEYS = st.sampled_from([*FIELDS, "stream", "data", "result", "id", "code", "msg"])
DECIMAL_TEXT = st.one_of(
    st.from_regex(r"-?[0-9]{0,25}(\.[0-9]{0,25})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["NaN", "-NaN", "sNaN", "Infinity", "-Inf", "1_0", " 1", "1 ", "\u0661", ""]),
)


@st.composite
def mutated_frames(draw: st.DrawFn) -> str | bytes:
    frame = json.loads(draw(st.sampled_from([frame["raw"] for frame in FRAMES])))
    target = frame.get("data", frame)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        key = draw(KEYS)
        action = draw(st.sampled_from(["delete", "replace", "decimal"]))
        if action == "delete":
            target.pop(key, None)
        elif action == "replace":
            target[key] = draw(JSON_VALUES)
        else:
            target[key] = draw(DECIMAL_TEXT)
    text = json.dumps(frame)
    return maybe_damaged(draw, text)


@given(mutated_frames())
@FUZZ
def test_mutated_valid_frames(raw: str | bytes) -> None:
    parse_or_parse_error(raw)


@given(JSON_VALUES)
@FUZZ
def test_arbitrary_json(value: object) -> None:
    parse_or_parse_error(json.dumps(value))
    parse_or_parse_error(json.dumps({"stream": "btcusdt@trade", "data": value}))


# --- symbols and subscriptions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "instrument"),
    [
        ("BTCUSDT", "BTC-USDT"),
        ("btcusdt", "BTC-USDT"),
        ("ETHBTC", "ETH-BTC"),
        ("BNBFDUSD", "BNB-FDUSD"),
        ("FDUSDUSDT", "FDUSD-USDT"),
        ("USDCUSDT", "USDC-USDT"),
        ("BTCTUSD", "BTC-TUSD"),
        ("BTCAEUR", "BTC-AEUR"),
        ("BTCEUR", "BTC-EUR"),
        ("USDTTRY", "USDT-TRY"),
        ("WBETHETH", "WBETH-ETH"),
        ("1000SATSUSDT", "1000SATS-USDT"),
    ],
)
def test_symbol_mapping(symbol: str, instrument: str) -> None:
    assert binance.to_instrument(symbol) == instrument
    assert binance.to_symbol(instrument) == symbol.upper()


@pytest.mark.parametrize("symbol", ["", "USDT", "BTCXYZ", "BTC-USDT", "btc usdt", "BTCUSDT\u0661"])
def test_unknown_symbols_raise_parse_error(symbol: str) -> None:
    with pytest.raises(ParseError):
        binance.to_instrument(symbol)


@pytest.mark.parametrize("instrument", ["BTCUSDT", "btc-usdt", "BTC-XYZ"])
def test_to_symbol_refuses_what_cannot_map_back(instrument: str) -> None:
    with pytest.raises(ValueError):
        binance.to_symbol(instrument)


def test_stream_names_and_urls() -> None:
    streams = binance.stream_names(["BTC-USDT", "ETH-USDT"], "trade")
    assert streams == ["btcusdt@trade", "ethusdt@trade"]
    assert binance.stream_names(["SOL-USDT"], "aggTrade") == ["solusdt@aggTrade"]
    assert (
        binance.combined_stream_url("wss://stream.binance.com:9443", streams)
        == "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/ethusdt@trade"
    )
    assert binance.combined_stream_url("ws://127.0.0.1:8765/binance/", ["btcusdt@trade"]) == (
        "ws://127.0.0.1:8765/binance/stream?streams=btcusdt@trade"
    )
    with pytest.raises(ValueError):
        binance.combined_stream_url("ws://x", [])
    with pytest.raises(ValueError):
        binance.stream_names(["BTC-USDT"], "kline_1m")  # type: ignore[arg-type]


def test_subscription_messages() -> None:
    assert json.loads(binance.subscribe_message(["btcusdt@trade", "ethusdt@trade"], 1)) == {
        "method": "SUBSCRIBE",
        "params": ["btcusdt@trade", "ethusdt@trade"],
        "id": 1,
    }
    assert json.loads(binance.unsubscribe_message(["btcusdt@trade"], 312)) == {
        "method": "UNSUBSCRIBE",
        "params": ["btcusdt@trade"],
        "id": 312,
    }

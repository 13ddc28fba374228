"""The Kraken Futures parser against captured frames, exact decimals, malformed input, REST history and fuzzing."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from venue_fuzz import maybe_damaged

from contracts.instruments import is_canonical, kind_of
from contracts.records import BookUpdate, Level, Ticker, Trade
from streaming.errors import ParseError
from streaming.venues import krakenfutures as kf
from streaming.venues.base import ParsedFrame

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "krakenfutures"
FRAMES: list[dict[str, Any]] = [
    json.loads(line) for line in (FIXTURE_DIR / "frames.jsonl").read_text().splitlines() if line
]
BY_NAME = {frame["name"]: frame for frame in FRAMES}
RECEIVED = 1_800_000_000_000_000_000
TICKER_MEASURES = (
    "best_bid",
    "best_bid_size",
    "best_ask",
    "best_ask_size",
    "last_price",
    "volume_24h",
    "funding_rate",
    "mark_price",
    "index_price",
    "open_interest",
)

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


class Num(str):
    """A JSON number written exactly as its text (json.dumps would go through a float)."""


def dumps(payload: Any) -> str:
    """JSON text in which every :class:`Num` is a bare number literal."""

    def mark(value: Any) -> Any:
        if isinstance(value, Num):
            return f"@@{value}@@"
        if isinstance(value, dict):
            return {key: mark(item) for key, item in value.items()}
        if isinstance(value, list):
            return [mark(item) for item in value]
        return value

    return re.sub(r'"@@(.*?)@@"', r"\1", json.dumps(mark(payload)))


def trade_frame(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "product_id": "PF_XBTUSD",
        "feed": "trade",
        "uid": "8a2be12f-7a3f-4f8f-a111-d1b5200ab1d0",
        "side": "sell",
        "type": "fill",
        "time": 1790360004381,
        "qty": Num("0.0002"),
        "price": Num("83994.0"),
        "seq": 421135,
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not ...}


def book_frame(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "feed": "book",
        "product_id": "PF_XBTUSD",
        "side": "sell",
        "seq": 115358039,
        "price": Num("83999.0"),
        "qty": Num("0.0"),
        "timestamp": 1790359997729,
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not ...}


def snapshot_frame(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "feed": "book_snapshot",
        "product_id": "PF_XBTUSD",
        "timestamp": 1790359964969,
        "seq": 115335794,
        "tickSize": None,
        "bids": [{"price": Num("83998.0"), "qty": Num("0.0371")}],
        "asks": [{"price": Num("83999.0"), "qty": Num("0.0400")}],
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not ...}


def ticker_frame(**changes: Any) -> dict[str, Any]:
    payload = json.loads(BY_NAME["ticker_capture_pf_perpetual"]["raw"], parse_float=Num, parse_int=Num)
    payload["time"] = 1790359997224
    payload["feed"] = "ticker"
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not ...}


def parse_one(payload: dict[str, Any] | str | bytes) -> Any:
    raw = payload if isinstance(payload, str | bytes) else dumps(payload)
    frame = kf.parse(raw, RECEIVED)
    assert frame.control is None
    assert len(frame.records) == 1
    return frame.records[0]


def same_decimal(got: Decimal | None, text: str | None) -> bool:
    """Equal value and the same digits and exponent (the wire's scale is kept)."""
    if text is None:
        return got is None
    return got is not None and got == Decimal(text) and got.as_tuple() == Decimal(text).as_tuple()


# --- captured frames ---------------------------------------------------------------------------


def test_fixtures_cover_every_kind() -> None:
    assert len(BY_NAME) == len(FRAMES), "fixture names must be unique"
    feeds = {json.loads(frame["raw"]).get("feed") for frame in FRAMES}
    assert feeds >= {"trade_snapshot", "trade", "book_snapshot", "book", "ticker", "heartbeat"}
    events = {json.loads(frame["raw"]).get("event") for frame in FRAMES}
    assert events >= {"info", "subscribed", "unsubscribed", "subscribed_failed", "error", "alert", "challenge"}
    assert {frame["expect"].get("control") for frame in FRAMES} >= {"ack", "error", "heartbeat"}
    prefixes = {json.loads(frame["raw"]).get("product_id", "")[:3] for frame in FRAMES}
    assert prefixes >= {"PF_", "PI_", "FI_", "FF_"}
    assert all(frame["source"] for frame in FRAMES)


def expected_records(expect: dict[str, Any]) -> tuple[Any, ...]:
    if "trades" in expect:
        return tuple(
            Trade(
                venue="krakenfutures",
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
                venue="krakenfutures",
                instrument=item["instrument"],
                symbol=item["symbol"],
                kind=item["kind"],
                bids=tuple(Level(Decimal(price), Decimal(size)) for price, size in item["bids"]),
                asks=tuple(Level(Decimal(price), Decimal(size)) for price, size in item["asks"]),
                ts_event=item["ts_event"],
                ts_recv=item["ts_recv"],
                first_sequence=item["first_sequence"],
                sequence=item["sequence"],
                prev_sequence=item["prev_sequence"],
                checksum=item["checksum"],
            )
            for item in expect["books"]
        )
    return tuple(
        Ticker(
            venue="krakenfutures",
            instrument=item["instrument"],
            symbol=item["symbol"],
            ts_event=item["ts_event"],
            ts_recv=item["ts_recv"],
            sequence=item["sequence"],
            **{key: None if item[key] is None else Decimal(item[key]) for key in TICKER_MEASURES},
        )
        for item in expect["tickers"]
    )


@pytest.mark.parametrize("frame", FRAMES, ids=list(BY_NAME))
def test_captured_frame(frame: dict[str, Any]) -> None:
    for raw in (frame["raw"], frame["raw"].encode()):
        parsed = kf.parse(raw, frame["received_at"])
        expect = frame["expect"]
        if "control" in expect:
            assert parsed == ParsedFrame(channel=expect["channel"], control=expect["control"])
            continue
        assert parsed.control is None
        assert parsed.channel == expect["channel"]
        assert parsed.records == expected_records(expect)
        # Exact digits, not just equal values: the wire's scale is kept (0.0400 stays 0.0400).
        for got, item in zip(
            parsed.records, next(expect[key] for key in ("trades", "books", "tickers") if key in expect), strict=True
        ):
            if isinstance(got, Trade):
                assert same_decimal(got.price, item["price"]) and same_decimal(got.size, item["size"])
            elif isinstance(got, BookUpdate):
                for levels, wanted in ((got.bids, item["bids"]), (got.asks, item["asks"])):
                    for level, (price, size) in zip(levels, wanted, strict=True):
                        assert same_decimal(level.price, price) and same_decimal(level.size, size)
            else:
                for key in TICKER_MEASURES:
                    assert same_decimal(getattr(got, key), item[key]), key
            assert type(got.ts_event) is int and type(got.ts_recv) is int


def test_side_is_the_taker_side() -> None:
    # "The classification of the taker side in the matched trade": stored as is.
    assert parse_one(trade_frame(side="buy")).side == "buy"
    assert parse_one(trade_frame(side="sell")).side == "sell"


def test_trade_id_is_the_uid_and_not_the_seq() -> None:
    first = parse_one(trade_frame(seq=1))
    second = parse_one(trade_frame(seq=999))
    assert first.trade_id == second.trade_id == "8a2be12f-7a3f-4f8f-a111-d1b5200ab1d0"
    assert parse_one(trade_frame(uid="other")).trade_id == "other"


def test_every_trade_type_is_a_trade() -> None:
    for kind in ("fill", "liquidation", "termination", "block", "assignment"):
        assert parse_one(trade_frame(type=kind)).price == Decimal("83994.0")
    assert parse_one(trade_frame(type=...)).size == Decimal("0.0002")


def test_snapshot_trades_are_oldest_first_with_seq_breaking_ties() -> None:
    frame = {
        "feed": "trade_snapshot",
        "product_id": "PF_XBTUSD",
        "trades": [
            trade_frame(uid="c", seq=12, time=1790360000001),
            trade_frame(uid="b", seq=11, time=1790360000000),
            trade_frame(uid="a", seq=10, time=1790360000000),
        ],
    }
    parsed = kf.parse(dumps(frame), RECEIVED)
    assert [trade.trade_id for trade in parsed.records if isinstance(trade, Trade)] == ["a", "b", "c"]


def test_times_become_nanoseconds() -> None:
    assert parse_one(trade_frame(time=1790360004381)).ts_event == 1_790_360_004_381_000_000
    assert parse_one(trade_frame()).ts_recv == RECEIVED
    assert parse_one(book_frame(timestamp=1)).ts_event == 1_000_000
    assert parse_one(trade_frame(time=9_223_372_036_854)).ts_event == 9_223_372_036_854_000_000
    for bad in (9_223_372_036_855, 0, -1):
        with pytest.raises(ParseError, match="out of range"):
            parse_one(trade_frame(time=bad))


# --- exact decimals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("0.12290", Decimal("0.12290")),
        ("5.1e-05", Decimal("0.000051")),
        ("5.1E-5", Decimal("0.000051")),
        ("1.2e10", Decimal("12000000000")),
        ("1.2E+10", Decimal("12000000000")),
        ("440", Decimal("440")),
        ("0.0002", Decimal("0.0002")),
        ("83994.0", Decimal("83994.0")),
        ("0.00000123", Decimal("0.00000123")),
        ("1e-18", Decimal("1E-18")),
        ("0.000000000000000001", Decimal("1E-18")),
        ("99999999999999999999.999999999999999999", Decimal("99999999999999999999.999999999999999999")),
        ("99999999999999999999", Decimal("99999999999999999999")),
        ("1.000000000000000000000000", Decimal("1")),  # trailing zeros beyond the scale still fit
        ("0.1", Decimal("0.1")),  # not 0.1000000000000000055511151231257827
    ],
)
def test_json_numbers_are_exact(literal: str, expected: Decimal) -> None:
    trade = parse_one(trade_frame(price=Num(literal), qty=Num(literal)))
    assert trade.price == expected and trade.size == expected
    assert trade.price.as_tuple() == Decimal(literal).as_tuple()  # the literal's digits, never a float's
    level = parse_one(book_frame(price=Num(literal), qty=Num(literal))).asks[0]
    assert level.price.as_tuple() == level.size.as_tuple() == Decimal(literal).as_tuple()


def test_decimal_keeps_the_wire_scale() -> None:
    trade = parse_one(trade_frame(price=Num("65000.10000000"), qty=Num("0.10000000")))
    assert str(trade.price) == "65000.10000000"
    assert str(trade.size) == "0.10000000"


def test_zero_size_is_allowed_and_removes_a_level() -> None:
    assert parse_one(trade_frame(qty=Num("0.0"))).size == 0
    assert parse_one(book_frame(qty=Num("0"))).asks == (Level(Decimal("83999.0"), Decimal("0")),)


@given(st.decimals(min_value=Decimal("1E-18"), max_value=Decimal("1E20") - 1, places=18, allow_nan=False))
@FUZZ
def test_every_storable_decimal_round_trips(value: Decimal) -> None:
    for text in (format(value, "f"), format(value, "e")):
        trade = parse_one(trade_frame(price=Num(text), qty=Num(text)))
        assert trade.price == value and trade.size == value


# --- books -------------------------------------------------------------------------------------


def test_book_sequences_chain_deltas_to_the_snapshot() -> None:
    snapshot = parse_one(snapshot_frame(seq=100))
    first = parse_one(book_frame(seq=101, side="buy"))
    second = parse_one(book_frame(seq=102, side="sell"))
    assert (snapshot.kind, snapshot.sequence, snapshot.prev_sequence, snapshot.first_sequence) == (
        "snapshot",
        100,
        None,
        None,
    )
    assert (first.kind, first.first_sequence, first.sequence, first.prev_sequence) == ("delta", 101, 101, 100)
    assert second.prev_sequence == first.sequence
    assert first.bids and not first.asks and second.asks and not second.bids
    assert snapshot.checksum is None and first.checksum is None


def test_book_snapshot_levels_keep_their_order() -> None:
    levels = [{"price": Num(str(price)), "qty": Num("1")} for price in (100, 99, 98)]
    snapshot = parse_one(snapshot_frame(bids=levels, asks=[]))
    assert [level.price for level in snapshot.bids] == [100, 99, 98]
    assert snapshot.asks == ()


# --- tickers -----------------------------------------------------------------------------------


def test_ticker_maps_funding_mark_index_and_open_interest() -> None:
    ticker = parse_one(BY_NAME["ticker_capture_pf_perpetual"]["raw"])
    assert ticker.funding_rate == Decimal("0.00001089345")  # relative_funding_rate, not funding_rate
    assert ticker.funding_rate != Decimal("0.912482213835")
    assert ticker.mark_price == Decimal("84004.11362574516")
    assert ticker.index_price == Decimal("83995.76")
    assert ticker.open_interest == Decimal("2189.7813")
    assert ticker.volume_24h == Decimal("4237.2723")  # volume, not volumeQuote
    assert (ticker.best_bid, ticker.best_bid_size, ticker.best_ask, ticker.best_ask_size) == (
        Decimal("84001.0"),
        Decimal("0.0273"),
        Decimal("84002.0"),
        Decimal("0.006"),
    )
    assert ticker.last_price == Decimal("83997.0")
    assert ticker.sequence is None


def test_inverse_and_linear_funding_rates_are_comparable() -> None:
    inverse = parse_one(BY_NAME["ticker_capture_pi_perpetual"]["raw"])
    linear = parse_one(BY_NAME["ticker_capture_pf_perpetual"]["raw"])
    # Absolute rates differ by ~11 orders of magnitude (BTC per USD contract vs USD per BTC); relative ones agree.
    assert Decimal("1E-8") < inverse.funding_rate < Decimal("1E-4")
    assert Decimal("1E-8") < linear.funding_rate < Decimal("1E-4")


def test_funding_rate_may_be_negative_and_absent() -> None:
    assert parse_one(ticker_frame(relative_funding_rate=Num("-0.000025"))).funding_rate == Decimal("-0.000025")
    assert parse_one(ticker_frame(relative_funding_rate=...)).funding_rate is None
    assert parse_one(ticker_frame(relative_funding_rate=None)).funding_rate is None
    # The absolute rate alone is never stored as the funding rate.
    assert parse_one(ticker_frame(relative_funding_rate=..., funding_rate=Num("0.5"))).funding_rate is None


def test_computed_measures_are_rounded_to_the_stored_scale_but_quotes_are_not() -> None:
    ticker = parse_one(ticker_frame(markPrice=Num("1.2345678901234567e-05"), relative_funding_rate=Num("1e-19")))
    assert ticker.mark_price == Decimal("0.000012345678901235")
    assert ticker.funding_rate == 0
    with pytest.raises(ParseError, match="fractional digits"):
        parse_one(ticker_frame(bid=Num("1.2345678901234567e-05")))
    with pytest.raises(ParseError, match="integer digits"):
        parse_one(ticker_frame(markPrice=Num("1e20")))


def test_ticker_rejects_ill_typed_measures() -> None:
    for key in ("bid", "ask", "bid_size", "volume", "openInterest", "markPrice", "index", "relative_funding_rate"):
        with pytest.raises(ParseError, match=key):
            parse_one(ticker_frame(**{key: "1.5"}))
    with pytest.raises(ParseError, match="negative"):
        parse_one(ticker_frame(bid=Num("-1")))


# --- control frames ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "control"),
    [
        ('{"event":"subscribed","feed":"trade","product_ids":["PF_XBTUSD"],"price":1.5,"qty":2,"uid":"x"}', "ack"),
        ('{"event":"error","message":"Invalid feed","feed":"trade","trades":[]}', "error"),
        ('{"event":"alert","message":"Bad websocket message"}', "error"),
        ('{"event":"info","version":1,"feed":"book"}', "ack"),
    ],
)
def test_control_frames_are_never_data(raw: str, control: str) -> None:
    assert kf.parse(raw, RECEIVED) == ParsedFrame(channel="", control=control)  # type: ignore[arg-type]


# --- malformed frames --------------------------------------------------------------------------


MALFORMED: dict[str, str | bytes] = {
    "empty": b"",
    "not json": b"hello",
    "truncated": b'{"feed":"trade","time":1',
    "invalid utf-8": b'{"feed":"trade","product_id":"\xff"}',
    "utf-16": '{"feed":"heartbeat","time":1}'.encode("utf-16"),
    "lone surrogate product": '{"feed":"trade","product_id":"\ud800"}',
    "array": b"[1,2]",
    "string": b'"trade"',
    "number": b"42",
    "null": b"null",
    "empty object": b"{}",
    "unknown keys": b'{"foo":1}',
    "nested too deep": b"[" * 100_000,
    "nan literal": dumps(trade_frame(price=Num("NaN"))),
    "infinity literal": dumps(trade_frame(qty=Num("Infinity"))),
    "negative infinity literal": dumps(trade_frame(qty=Num("-Infinity"))),
    "unknown feed": dumps(trade_frame(feed="ticker_lite")),
    "feed not string": dumps(trade_frame(feed=1)),
    "unknown event": b'{"event":"subscribe","feed":"trade"}',
    "event not string": b'{"event":null}',
    "subscribed product ids not list": b'{"event":"subscribed","feed":"trade","product_ids":"PF_XBTUSD"}',
    "subscribed feed not string": b'{"event":"subscribed","feed":5}',
    "error message not string": b'{"event":"error","message":["x"]}',
    "info version not integer": b'{"event":"info","version":"1"}',
    "heartbeat without time": b'{"feed":"heartbeat"}',
    "heartbeat time string": b'{"feed":"heartbeat","time":"1534262350627"}',
    "missing product": dumps(trade_frame(product_id=...)),
    "product not string": dumps(trade_frame(product_id=["PF_XBTUSD"])),
    "product index": dumps(trade_frame(product_id="IN_XBTUSD")),
    "product vanilla": dumps(trade_frame(product_id="PV_XBTUSD")),
    "product spelled BTC": dumps(trade_frame(product_id="PF_BTCUSD")),
    "product unknown quote": dumps(trade_frame(product_id="PF_XBTJPY")),
    "product perpetual with expiry": dumps(trade_frame(product_id="PF_XBTUSD_230929")),
    "product future without expiry": dumps(trade_frame(product_id="FI_XBTUSD")),
    "product bad expiry": dumps(trade_frame(product_id="FI_XBTUSD_231340")),
    "missing price": dumps(trade_frame(price=...)),
    "missing qty": dumps(trade_frame(qty=...)),
    "missing uid": dumps(trade_frame(uid=...)),
    "missing time": dumps(trade_frame(time=...)),
    "missing seq": dumps(trade_frame(seq=...)),
    "missing side": dumps(trade_frame(side=...)),
    "string price": dumps(trade_frame(price="83994.0")),
    "string qty": dumps(trade_frame(qty="0.0002")),
    "bool price": dumps(trade_frame(price=True)),
    "null qty": dumps(trade_frame(qty=None)),
    "zero price": dumps(trade_frame(price=Num("0.0"))),
    "negative price": dumps(trade_frame(price=Num("-1.5"))),
    "negative qty": dumps(trade_frame(qty=Num("-0.1"))),
    "negative zero qty": dumps(trade_frame(qty=Num("-0.0"))),
    "19 fractional digits": dumps(trade_frame(price=Num("0.0000000000000000001"))),
    "21 integer digits": dumps(trade_frame(qty=Num("100000000000000000000"))),
    "21 integer digits fraction": dumps(trade_frame(qty=Num("100000000000000000000.5"))),
    "exponent too small": dumps(trade_frame(price=Num("1e-19"))),
    "exponent too large": dumps(trade_frame(qty=Num("1e20"))),
    "huge exponent": dumps(trade_frame(qty=Num("1e999999999"))),
    "huge negative exponent": dumps(trade_frame(qty=Num("1e-999999999"))),
    "huge integer": dumps(trade_frame(qty=Num("9" * 5000))),
    "uid empty": dumps(trade_frame(uid="")),
    "uid number": dumps(trade_frame(uid=5)),
    "uid control characters": dumps(trade_frame(uid="a\nb")),
    "uid too long": dumps(trade_frame(uid="x" * 129)),
    "side upper case": dumps(trade_frame(side="Buy")),
    "side unknown": dumps(trade_frame(side="b")),
    "type not string": dumps(trade_frame(type=1)),
    "seq string": dumps(trade_frame(seq="421135")),
    "seq float": dumps(trade_frame(seq=Num("1.0"))),
    "seq bool": dumps(trade_frame(seq=True)),
    "seq negative": dumps(trade_frame(seq=-1)),
    "seq beyond 64 bits": dumps(trade_frame(seq=2**64)),
    "time string": dumps(trade_frame(time="1790360004381")),
    "time float": dumps(trade_frame(time=Num("1790360004381.5"))),
    "time microseconds": dumps(trade_frame(time=1790360004381000)),
    "snapshot trades not list": dumps({"feed": "trade_snapshot", "product_id": "PF_XBTUSD", "trades": {}}),
    "snapshot trades missing": dumps({"feed": "trade_snapshot", "product_id": "PF_XBTUSD"}),
    "snapshot trade not object": dumps({"feed": "trade_snapshot", "product_id": "PF_XBTUSD", "trades": [1]}),
    "snapshot trade other product": dumps(
        {"feed": "trade_snapshot", "product_id": "PF_XBTUSD", "trades": [trade_frame(product_id="PF_ETHUSD")]}
    ),
    "snapshot trade other feed": dumps(
        {"feed": "trade_snapshot", "product_id": "PF_XBTUSD", "trades": [trade_frame(feed="book")]}
    ),
    "snapshot trade malformed": dumps(
        {"feed": "trade_snapshot", "product_id": "PF_XBTUSD", "trades": [trade_frame(price=...)]}
    ),
    "book side missing": dumps(book_frame(side=...)),
    "book side bid": dumps(book_frame(side="bid")),
    "book seq missing": dumps(book_frame(seq=...)),
    "book timestamp missing": dumps(book_frame(timestamp=...)),
    "book price zero": dumps(book_frame(price=Num("0"))),
    "book qty negative": dumps(book_frame(qty=Num("-1"))),
    "snapshot bids missing": dumps(snapshot_frame(bids=...)),
    "snapshot asks not list": dumps(snapshot_frame(asks={"price": 1, "qty": 1})),
    "snapshot level not object": dumps(snapshot_frame(bids=[[Num("1"), Num("1")]])),
    "snapshot level without qty": dumps(snapshot_frame(bids=[{"price": Num("1")}])),
    "snapshot seq missing": dumps(snapshot_frame(seq=...)),
    "ticker time missing": dumps(ticker_frame(time=...)),
    "ticker product missing": dumps(ticker_frame(product_id=...)),
    "ticker string bid": dumps(ticker_frame(bid="84001.0")),
    "ticker negative volume": dumps(ticker_frame(volume=Num("-1"))),
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_frames_raise_parse_error(raw: str | bytes) -> None:
    with pytest.raises(ParseError) as caught:
        kf.parse(raw, RECEIVED)
    assert str(caught.value), "the error must say what is wrong"


def test_parse_error_names_the_field() -> None:
    with pytest.raises(ParseError, match="'price'"):
        kf.parse(dumps(trade_frame(price="1.5")), RECEIVED)
    with pytest.raises(ParseError, match="fractional digits"):
        kf.parse(dumps(trade_frame(price=Num("0.0000000000000000001"))), RECEIVED)
    with pytest.raises(ParseError, match="quote asset"):
        kf.parse(dumps(trade_frame(product_id="PF_XBTJPY")), RECEIVED)
    with pytest.raises(ParseError, match="unsupported feed"):
        kf.parse(dumps(trade_frame(feed="candles_trade_1m")), RECEIVED)


# --- fuzzing: nothing but ParseError ever escapes ----------------------------------------------


def check_records(records: tuple[Any, ...]) -> None:
    for record in records:
        assert is_canonical(record.instrument)
        if isinstance(record, Trade):
            assert record.price > 0 and record.price.is_finite()
            assert record.size >= 0 and record.size.is_finite()
            assert record.side in ("buy", "sell")
        elif isinstance(record, BookUpdate):
            for level in record.bids + record.asks:
                assert level.price > 0 and level.size >= 0 and level.price.is_finite() and level.size.is_finite()
        else:
            for key in TICKER_MEASURES:
                value = getattr(record, key)
                assert value is None or (isinstance(value, Decimal) and value.is_finite())


def parse_or_parse_error(raw: str | bytes) -> None:
    try:
        result = kf.parse(raw, RECEIVED)
    except ParseError:
        return
    assert isinstance(result, ParsedFrame)
    assert (result.control is None) or not result.records
    check_records(result.records)


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
FIELDS = [
    "feed", "product_id", "uid", "side", "type", "seq", "time", "qty", "price", "trades", "bids", "asks",
    "timestamp", "tickSize", "bid", "ask", "bid_size", "ask_size", "volume", "last", "index", "markPrice",
    "openInterest", "funding_rate", "relative_funding_rate", "event", "message", "version", "product_ids",
]  # fmt: skip
KEYS = st.sampled_from(FIELDS)
NUMBER_TEXT = st.one_of(
    st.from_regex(r"-?[0-9]{1,25}(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["NaN", "-Infinity", "Infinity", "1e999999999", "-0", "-0.0", "0e-30"]),
)
PRODUCT_IDS = st.sampled_from(
    ["PF_XBTUSD", "pi_xbtusd", "FI_XBTUSD_230229", "FF_ETHUSD_240229", "PF_BTCUSD", "PF_", "_", "PF_USD", "PF__USD"]
)


def mutate(target: dict[str, Any], draw: st.DrawFn) -> None:
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        key = draw(KEYS)
        action = draw(st.sampled_from(["delete", "replace", "number", "product"]))
        if action == "delete":
            target.pop(key, None)
        elif action == "replace":
            target[key] = draw(JSON_VALUES)
        elif action == "number":
            target[key] = Num(draw(NUMBER_TEXT))
        else:
            target["product_id"] = draw(PRODUCT_IDS)


@st.composite
def mutated_frames(draw: st.DrawFn) -> str | bytes:
    frame = json.loads(draw(st.sampled_from([frame["raw"] for frame in FRAMES])), parse_float=Num, parse_int=Num)
    targets = [frame]
    for key in ("trades", "bids", "asks"):
        if isinstance(frame.get(key), list):
            targets.extend(item for item in frame[key] if isinstance(item, dict))
    mutate(draw(st.sampled_from(targets)), draw)
    text = dumps(frame)
    return maybe_damaged(draw, text)


@given(mutated_frames())
@FUZZ
def test_mutated_valid_frames(raw: str | bytes) -> None:
    parse_or_parse_error(raw)


REPLACEMENTS: list[Any] = [..., None, True, "x", "", -1, 0, 2**64, Num("-0.0"), Num("1e-19"), Num("1e20"), [], {}]


@pytest.mark.parametrize("frame", FRAMES, ids=list(BY_NAME))
def test_every_field_of_every_fixture_damaged(frame: dict[str, Any]) -> None:
    # Deterministic companion of the fuzzing above: each field of each fixture (nested ones too), each bad value.
    original = json.loads(frame["raw"], parse_float=Num, parse_int=Num)
    paths: list[tuple[Any, ...]] = [(key,) for key in original]
    for key in ("trades", "bids", "asks"):
        for index, item in enumerate(original.get(key) or []):
            paths.extend((key, index, field) for field in item)
    for path in paths:
        for replacement in REPLACEMENTS:
            damaged = json.loads(frame["raw"], parse_float=Num, parse_int=Num)
            target = damaged
            for step in path[:-1]:
                target = target[step]
            if replacement is ...:
                del target[path[-1]]
            else:
                target[path[-1]] = replacement
            parse_or_parse_error(dumps(damaged))


@given(JSON_VALUES)
@FUZZ
def test_arbitrary_json(value: object) -> None:
    parse_or_parse_error(json.dumps(value))
    for feed in ("trade", "trade_snapshot", "book", "book_snapshot", "ticker", "heartbeat"):
        parse_or_parse_error(json.dumps({"feed": feed, "product_id": "PF_XBTUSD", "trades": value, "bids": value}))
    parse_or_parse_error(json.dumps({"event": value, "feed": value}))


# --- REST history ------------------------------------------------------------------------------


def test_rest_request_lists_executions_from_a_time_forwards() -> None:
    assert kf.rest_trades_request("BTC-USD-PERP", 1790359960000) == (
        "/api/history/v3/market/PF_XBTUSD/executions",
        {"since": "1790359960000", "sort": "asc"},
    )
    assert kf.rest_trades_request("BTC-USDINV-20230929", None) == (
        "/api/history/v3/market/FI_XBTUSD_230929/executions",
        {},
    )
    assert kf.REST_BASE_URL == "https://futures.kraken.com"
    for since in (-1, 1.5, "1", True):
        with pytest.raises(ValueError):
            kf.rest_trades_request("BTC-USD-PERP", since)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        kf.rest_trades_request("BTC-USDT", 1)


def test_rest_trades_from_the_ccxt_sample() -> None:
    body = (FIXTURE_DIR / "rest_executions_ccxt.json").read_bytes()
    assert kf.parse_rest_trades(body, RECEIVED, "BTC-USD-PERP") == [
        Trade(
            venue="krakenfutures",
            instrument="BTC-USD-PERP",
            symbol="PF_XBTUSD",
            trade_id="2d485b71-cd28-4a1e-9364-371a127550d2",  # the execution uid, not the event uid
            price=Decimal("71907"),
            size=Decimal("0.0002"),
            side="sell",  # the taker order's direction
            ts_event=1_710_150_778_607_000_000,
            ts_recv=RECEIVED,
        )
    ]


def test_rest_repair_yields_exactly_the_socket_trades() -> None:
    body = (FIXTURE_DIR / "rest_executions_constructed.json").read_bytes()
    repaired = kf.parse_rest_trades(body, RECEIVED, "BTC-USD-PERP")
    live = kf.parse(BY_NAME["trade_snapshot_capture_pf"]["raw"], RECEIVED).records
    assert tuple(repaired) == live  # same identity, side, price, size and time: a repair deduplicates
    for rest, socket in zip(repaired, live, strict=True):
        assert isinstance(socket, Trade)
        assert rest.price.as_tuple() == socket.price.as_tuple() and rest.size.as_tuple() == socket.size.as_tuple()
    ascending = json.loads(body)
    ascending["elements"].reverse()
    assert kf.parse_rest_trades(json.dumps(ascending).encode(), RECEIVED, "BTC-USD-PERP") == repaired


def test_rest_error_answers_raise_parse_error() -> None:
    with pytest.raises(ParseError, match="NOT_FOUND"):
        kf.parse_rest_trades((FIXTURE_DIR / "rest_error_capture.json").read_bytes(), RECEIVED, "BTC-USD-PERP")
    assert kf.parse_rest_trades(b'{"elements":[],"len":0}', RECEIVED, "BTC-USD-PERP") == []


def rest_body(**changes: Any) -> bytes:
    body = json.loads((FIXTURE_DIR / "rest_executions_ccxt.json").read_text())
    execution = body["elements"][0]["event"]["Execution"]["execution"]
    for key, value in changes.items():
        if key.startswith("taker_"):
            execution["takerOrder"][key[6:]] = value
        elif value is ...:
            execution.pop(key, None)
        else:
            execution[key] = value
    return json.dumps(body).encode()


REST_MALFORMED: dict[str, bytes] = {
    "not json": b"<html>502</html>",
    "array": b"[]",
    "elements not list": b'{"elements":{}}',
    "element not object": b'{"elements":[1]}',
    "not an execution": b'{"elements":[{"event":{"OrderPlaced":{}}}]}',
    "execution not object": b'{"elements":[{"event":{"Execution":{"execution":[]}}}]}',
    "missing uid": rest_body(uid=...),
    "uid empty": rest_body(uid=""),
    "missing price": rest_body(price=...),
    "price nan": rest_body(price="NaN"),
    "price spaces": rest_body(price=" 1"),
    "price zero": rest_body(price="0"),
    "quantity negative": rest_body(quantity="-0.1"),
    "quantity 19 fractional digits": rest_body(quantity="0.0000000000000000001"),
    "timestamp missing": rest_body(timestamp=...),
    "timestamp not digits": rest_body(timestamp="2024-03-11T10:00:00Z"),
    "taker missing": rest_body(takerOrder=...),
    "direction unknown": rest_body(taker_direction="Long"),
    "other tradeable": rest_body(taker_tradeable="PF_ETHUSD"),
}


@pytest.mark.parametrize("body", list(REST_MALFORMED.values()), ids=list(REST_MALFORMED))
def test_malformed_rest_bodies_raise_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        kf.parse_rest_trades(body, RECEIVED, "BTC-USD-PERP")


@given(JSON_VALUES, st.sampled_from(["uid", "timestamp", "price", "quantity", "takerOrder", "makerOrder"]))
@FUZZ
def test_mutated_rest_bodies(value: object, key: str) -> None:
    for body in (rest_body(**{key: value}), json.dumps(value).encode()):
        try:
            trades = kf.parse_rest_trades(body, RECEIVED, "BTC-USD-PERP")
        except ParseError:
            continue
        check_records(tuple(trades))


# --- symbols and subscriptions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("product_id", "instrument"),
    [
        ("PF_XBTUSD", "BTC-USD-PERP"),
        ("PI_XBTUSD", "BTC-USDINV-PERP"),
        ("FF_XBTUSD_230929", "BTC-USD-20230929"),
        ("FI_XBTUSD_230929", "BTC-USDINV-20230929"),
        ("PF_ETHUSD", "ETH-USD-PERP"),
        ("PI_ETHUSD", "ETH-USDINV-PERP"),
        ("PF_XDGUSD", "DOGE-USD-PERP"),
        ("PF_SOLUSD", "SOL-USD-PERP"),
        ("PF_USDTUSD", "USDT-USD-PERP"),
        ("PF_ETHXBT", "ETH-BTC-PERP"),
        ("PF_1INCHUSD", "1INCH-USD-PERP"),
        ("FF_ETHUSD_240229", "ETH-USD-20240229"),
    ],
)
def test_symbol_mapping_round_trips(product_id: str, instrument: str) -> None:
    assert kf.to_instrument(product_id) == instrument
    assert kf.to_instrument(product_id.lower()) == instrument
    assert kf.to_symbol(instrument) == product_id
    assert kind_of(instrument) == ("perpetual" if instrument.endswith("-PERP") else "future")


def test_inverse_and_linear_never_share_a_name() -> None:
    assert kf.to_instrument("PI_XBTUSD") != kf.to_instrument("PF_XBTUSD")
    assert kf.to_instrument("FI_XBTUSD_230929") != kf.to_instrument("FF_XBTUSD_230929")


@pytest.mark.parametrize(
    "product_id",
    [
        "",
        "XBTUSD",
        "PF_",
        "PF_USD",
        "PF_XBTJPY",
        "PF_BTCUSD",
        "PF_DOGEUSD",
        "PV_XBTUSD",
        "IN_XBTUSD",
        "RR_XBTUSD",
        "PF_XBT-USD",
        "PF_XBTUSD_230929",
        "FI_XBTUSD",
        "FI_XBTUSD_2309",
        "FI_XBTUSD_230230",
        "PF_XBTUSD\u0661",
        "PF_XBTUSD_1_2",
    ],
)
def test_unknown_product_ids_raise_parse_error(product_id: str) -> None:
    with pytest.raises(ParseError):
        kf.to_instrument(product_id)


@pytest.mark.parametrize(
    "instrument",
    ["BTC-USD", "btc-usd-perp", "BTC-JPY-PERP", "BTC-USDINV", "BTC-USD-19991231", "KALSHI:X", "BTC-INV-PERP", 5],
)
def test_to_symbol_refuses_what_cannot_map_back(instrument: str) -> None:
    with pytest.raises(ValueError):
        kf.to_symbol(instrument)


def test_product_ids_of_instruments() -> None:
    assert kf.product_ids(["BTC-USD-PERP", "BTC-USDINV-PERP"]) == ["PF_XBTUSD", "PI_XBTUSD"]


def test_subscription_messages() -> None:
    assert json.loads(kf.subscribe_message("trade", ["PF_XBTUSD", "pi_xbtusd"])) == {
        "event": "subscribe",
        "feed": "trade",
        "product_ids": ["PF_XBTUSD", "PI_XBTUSD"],
    }
    assert kf.unsubscribe_message("book", ["FI_XBTUSD_230929"]) == (
        '{"event":"unsubscribe","feed":"book","product_ids":["FI_XBTUSD_230929"]}'
    )
    assert json.loads(kf.subscribe_message("heartbeat", [])) == {"event": "subscribe", "feed": "heartbeat"}
    for feed, ids in (("candles", ["PF_XBTUSD"]), ("trade", []), ("heartbeat", ["PF_XBTUSD"]), ("ticker", ["XBT"])):
        with pytest.raises(ValueError):
            kf.subscribe_message(feed, ids)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        kf.subscribe_message("trade", "PF_XBTUSD")

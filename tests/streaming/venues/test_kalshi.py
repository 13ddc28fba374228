"""The Kalshi parser, REST history, symbols, subscriptions and API-key signing."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from venue_fuzz import maybe_damaged

from contracts.records import BookUpdate, Level, Lifecycle, Record, Ticker, Trade
from streaming.errors import ParseError
from streaming.venues import kalshi
from streaming.venues.base import ParsedFrame

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kalshi"
FRAMES: list[dict[str, Any]] = [
    json.loads(line) for line in (FIXTURES / "frames.jsonl").read_text().splitlines() if line
]
BY_NAME = {frame["name"]: frame for frame in FRAMES}
RECEIVED = 1_800_000_000_000_000_000

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def optional_decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def expected_record(item: dict[str, Any]) -> Record:
    common: dict[str, Any] = {"venue": "kalshi", "instrument": item["instrument"], "symbol": item["symbol"]}
    times: dict[str, Any] = {"ts_event": item["ts_event"], "ts_recv": item["ts_recv"]}
    if item["record"] == "trade":
        return Trade(
            **common,
            trade_id=item["trade_id"],
            price=Decimal(item["price"]),
            size=Decimal(item["size"]),
            side=item["side"],
            **times,
        )
    if item["record"] == "book":
        return BookUpdate(
            **common,
            kind=item["kind"],
            bids=tuple(Level(Decimal(price), Decimal(size)) for price, size in item["bids"]),
            asks=tuple(Level(Decimal(price), Decimal(size)) for price, size in item["asks"]),
            sequence=item["sequence"],
            **times,
        )
    if item["record"] == "ticker":
        return Ticker(
            **common,
            **times,
            best_bid=optional_decimal(item["best_bid"]),
            best_bid_size=optional_decimal(item["best_bid_size"]),
            best_ask=optional_decimal(item["best_ask"]),
            best_ask_size=optional_decimal(item["best_ask_size"]),
            last_price=optional_decimal(item["last_price"]),
            volume_24h=optional_decimal(item["volume_24h"]),
            open_interest=optional_decimal(item["open_interest"]),
            sequence=item["sequence"],
        )
    assert item["record"] == "lifecycle"
    return Lifecycle(
        **common,
        event=item["event"],
        status=item["status"],
        result=item["result"],
        details=None,  # compared separately, as JSON
        **times,
    )


def decimals_of(record: Record) -> list[Decimal | None]:
    """Every decimal of a record, in a fixed order, to compare their exact digits and scale."""
    if isinstance(record, Trade):
        return [record.price, record.size]
    if isinstance(record, BookUpdate):
        return [value for level in record.bids + record.asks for value in (level.price, level.size)]
    if isinstance(record, Ticker):
        return [record.best_bid, record.best_bid_size, record.best_ask, record.best_ask_size, record.last_price]
    return []


def data_frame(name: str) -> Record:
    frame = kalshi.parse(BY_NAME[name]["raw"], RECEIVED)
    assert frame.control is None and len(frame.records) == 1
    return frame.records[0]


def trade_frame(**changes: Any) -> str:
    msg: dict[str, Any] = {
        "trade_id": "d91bc706-ee49-470d-82d8-11418bda6fed",
        "market_ticker": "HIGHNY-22DEC23-B53.5",
        "yes_price_dollars": "0.3600",
        "no_price_dollars": "0.6400",
        "count_fp": "136.00",
        "taker_side": "no",
        "ts": 1669149841,
    }
    msg.update(changes)
    return json.dumps({"type": "trade", "sid": 11, "seq": 2, "msg": {k: v for k, v in msg.items() if v is not ...}})


def delta_frame(**changes: Any) -> str:
    msg: dict[str, Any] = {"market_ticker": "FED-23DEC-T3.00", "price_dollars": "0.9600", "delta_fp": "-54.00"}
    msg["side"] = "yes"
    msg.update(changes)
    return json.dumps(
        {"type": "orderbook_delta", "sid": 2, "seq": 3, "msg": {k: v for k, v in msg.items() if v is not ...}}
    )


def parse_trade(raw: str) -> Trade:
    frame = kalshi.parse(raw, RECEIVED)
    assert frame.channel == "trade" and len(frame.records) == 1
    record = frame.records[0]
    assert isinstance(record, Trade)
    return record


def parse_book(raw: str) -> BookUpdate:
    frame = kalshi.parse(raw, RECEIVED)
    record = frame.records[0]
    assert isinstance(record, BookUpdate)
    return record


# --- documented frames -------------------------------------------------------------------------


def test_fixtures_cover_every_kind() -> None:
    assert len(BY_NAME) == len(FRAMES), "fixture names must be unique"
    channels = {frame["expect"].get("channel") for frame in FRAMES}
    assert channels >= {
        "trade",
        "orderbook_snapshot",
        "orderbook_delta",
        "ticker",
        "ticker_v2",
        "market_lifecycle_v2",
        "multivariate_market_lifecycle",
        "event_lifecycle",
        "event_fee_update",
    }
    assert {frame["expect"].get("control") for frame in FRAMES} >= {"ack", "error", "heartbeat"}
    assert {frame["expect"]["envelope"]["type"] for frame in FRAMES if "control" in frame["expect"]} >= {
        "subscribed",
        "unsubscribed",
        "ok",
        "error",
    }
    documented = [frame for frame in FRAMES if "docs.kalshi.com" in frame["source"]]
    assert len(documented) >= 25, "most fixtures are Kalshi's own documented examples"


@pytest.mark.parametrize("frame", FRAMES, ids=[frame["name"] for frame in FRAMES])
def test_documented_frame(frame: dict[str, Any]) -> None:
    expect = frame["expect"]
    for raw in (frame["raw"], frame["raw"].encode()):
        assert kalshi.envelope(raw) == kalshi.Envelope(**expect["envelope"])
        parsed = kalshi.parse(raw, frame["received_at"])
        if "control" in expect:
            assert parsed == ParsedFrame(channel="", control=expect["control"])
            continue
        assert parsed.control is None
        assert parsed.channel == expect["channel"]
        assert len(parsed.records) == len(expect["records"])
        for got, item in zip(parsed.records, expect["records"], strict=True):
            if isinstance(got, Lifecycle):
                assert json.loads(got.details or "null") == (item["details"] or None)
                got = dataclasses.replace(got, details=None)
            wanted = expected_record(item)
            assert got == wanted
            # Exact digits and scale, not just equal values.
            assert [d and d.as_tuple() for d in decimals_of(got)] == [d and d.as_tuple() for d in decimals_of(wanted)]
            assert type(got.ts_event) is int and type(got.ts_recv) is int


def test_lifecycle_details_are_compact_sorted_json() -> None:
    record = data_frame("lifecycle_created_asyncapi")
    assert isinstance(record, Lifecycle) and record.details is not None
    assert record.details.startswith('{"additional_metadata":{"can_close_early":true,"event_ticker":"INXD-23SEP14"')
    assert ", " not in record.details and ": " not in record.details.replace("4:00 PM", "")
    assert json.loads(record.details)["close_ts"] == 1694721600


# --- prices: cents and dollars -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents_fixture", "dollars_fixture"),
    [
        ("trade_cents_only", "trade_asyncapi_current"),
        ("ticker_cents_only", "ticker_asyncapi_current"),
        ("orderbook_snapshot_docs_cents_and_dollars", "orderbook_snapshot_asyncapi_current"),
        ("orderbook_delta_docs_cents_and_dollars", "orderbook_delta_asyncapi_current"),
    ],
)
def test_cents_and_dollar_strings_give_identical_prices(cents_fixture: str, dollars_fixture: str) -> None:
    cents, dollars = data_frame(cents_fixture), data_frame(dollars_fixture)
    if isinstance(cents, Trade) and isinstance(dollars, Trade):
        assert cents.price == dollars.price == Decimal("0.36")
    elif isinstance(cents, Ticker) and isinstance(dollars, Ticker):
        assert (cents.best_bid, cents.best_ask, cents.last_price) == (
            dollars.best_bid,
            dollars.best_ask,
            dollars.last_price,
        )
    else:
        assert isinstance(cents, BookUpdate) and isinstance(dollars, BookUpdate)
        assert cents.bids == dollars.bids and cents.asks == dollars.asks


def test_every_cent_price_equals_its_dollar_strings() -> None:
    for cents in range(1, 100):
        check_cent_price(cents)


def check_cent_price(cents: int) -> None:
    from_cents = parse_trade(trade_frame(yes_price_dollars=..., no_price_dollars=..., yes_price=cents))
    from_dollars = parse_trade(trade_frame(yes_price_dollars=f"0.{cents:02d}00", no_price_dollars=...))
    from_no_cents = parse_trade(trade_frame(yes_price_dollars=..., no_price_dollars=..., no_price=100 - cents))
    from_no_dollars = parse_trade(trade_frame(yes_price_dollars=..., no_price_dollars=f"0.{100 - cents:02d}0"))
    assert from_cents.price == from_dollars.price == from_no_cents.price == from_no_dollars.price
    assert from_cents.price == Decimal(cents) / 100
    snapshot_cents = json.dumps(
        {"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": {"market_ticker": "M", "no": [[cents, 5]]}}
    )
    snapshot_fp = json.dumps(
        {
            "type": "orderbook_snapshot",
            "sid": 1,
            "seq": 1,
            "msg": {"market_ticker": "M", "no_dollars_fp": [[f"0.{cents:02d}00", "5.00"]]},
        }
    )
    assert parse_book(snapshot_cents).asks == parse_book(snapshot_fp).asks
    assert parse_book(snapshot_cents).asks[0].price == 1 - Decimal(cents) / 100


def test_most_precise_encoding_wins() -> None:
    # A sub-penny trade's cent fields are approximations; the dollar strings are the price.
    trade = parse_trade(trade_frame(yes_price_dollars="0.3450", no_price_dollars="0.6550", yes_price=34, no_price=66))
    assert trade.price == Decimal("0.3450")
    assert parse_trade(trade_frame(count_fp="10.67", count=10)).size == Decimal("10.67")


def test_yes_and_no_prices_must_add_up_to_one() -> None:
    with pytest.raises(ParseError, match="add up to 1"):
        kalshi.parse(trade_frame(no_price_dollars="0.6500"), RECEIVED)
    with pytest.raises(ParseError, match="add up to 1"):
        kalshi.parse(trade_frame(yes_price_dollars=..., no_price_dollars=..., yes_price=36, no_price=65), RECEIVED)


# --- taker side --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "side"),
    [
        ({"taker_side": "yes"}, "buy"),
        ({"taker_side": "no"}, "sell"),
        ({"taker_side": ..., "taker_outcome_side": "yes"}, "buy"),
        ({"taker_side": ..., "taker_outcome_side": "no"}, "sell"),
        ({"taker_side": ..., "taker_book_side": "bid"}, "buy"),
        ({"taker_side": ..., "taker_book_side": "ask"}, "sell"),
        ({"taker_side": "no", "taker_outcome_side": "yes", "taker_book_side": "bid"}, "buy"),  # new fields win
    ],
)
def test_taker_side(fields: dict[str, Any], side: str) -> None:
    assert parse_trade(trade_frame(**fields)).side == side


def test_contradicting_taker_fields_are_rejected() -> None:
    with pytest.raises(ParseError, match="contradicts"):
        kalshi.parse(trade_frame(taker_outcome_side="yes", taker_book_side="ask"), RECEIVED)


# --- order book --------------------------------------------------------------------------------


def test_no_bids_are_yes_asks_at_one_minus_price() -> None:
    record = parse_book(delta_frame(side="no", price_dollars="0.5450", delta_fp="2.50"))
    assert record.bids == () and record.asks == (Level(Decimal("0.4550"), Decimal("2.50")),)
    assert str(record.asks[0].price) == "0.4550"


def test_delta_size_is_the_signed_relative_change() -> None:
    # Kalshi deltas are relative: the level carries the change, not the new size.
    record = parse_book(delta_frame(delta_fp="-54.00"))
    assert record.kind == "increment" and record.bids == (Level(Decimal("0.9600"), Decimal("-54.00")),)
    assert parse_book(delta_frame(delta_fp=..., delta=7)).bids[0].size == 7
    assert record.sequence == 3 and record.prev_sequence is None


def test_snapshot_levels_are_best_first() -> None:
    record = data_frame("orderbook_snapshot_docs_all_encodings")
    assert isinstance(record, BookUpdate)
    assert [level.price for level in record.bids] == sorted((level.price for level in record.bids), reverse=True)
    assert [level.price for level in record.asks] == sorted(level.price for level in record.asks)
    assert record.bids[0].price < record.asks[0].price  # the documented book is not crossed


# --- times -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "ns"),
    [
        ({"ts": 1669149841}, 1_669_149_841_000_000_000),
        ({"ts": ..., "ts_ms": 1669149841123}, 1_669_149_841_123_000_000),
        ({"ts": 1669149841, "ts_ms": 1669149841123}, 1_669_149_841_123_000_000),  # the finer field wins
        ({"ts": ..., "created_time": "2022-11-22T20:44:01Z"}, 1_669_149_841_000_000_000),
        ({"ts": ..., "created_time": "2022-11-22T20:44:01.354888Z"}, 1_669_149_841_354_888_000),
        ({"ts": ..., "created_time": "2022-11-22T21:44:01.000000001+01:00"}, 1_669_149_841_000_000_001),
        ({"ts": ..., "created_time": "2022-11-22T15:14:01.5-05:30"}, 1_669_149_841_500_000_000),
    ],
)
def test_trade_times_become_nanoseconds(fields: dict[str, Any], ns: int) -> None:
    assert parse_trade(trade_frame(**fields)).ts_event == ns


@pytest.mark.parametrize(
    "fields",
    [
        {"ts": 1669149841000},  # milliseconds in a seconds field: out of range, not misread
        {"ts": ..., "ts_ms": 1669149841000000000},
        {"ts": 0},
        {"ts": -1},
        {"ts": "1669149841"},
        {"ts": 1669149841.5},
        {"ts": ...},
        {"ts": ..., "created_time": "2022-11-22T20:44:01"},  # naive
        {"ts": ..., "created_time": "2022-11-22 20:44:01Z"},
        {"ts": ..., "created_time": "2022-02-30T20:44:01Z"},
        {"ts": ..., "created_time": "2022-11-22T20:44:01.1234567890Z"},
        {"ts": ..., "created_time": "2022-11-22T20:44:01+24:00"},
        {"ts": ..., "created_time": "1969-12-31T23:59:59Z"},
    ],
)
def test_bad_trade_times_are_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ParseError):
        kalshi.parse(trade_frame(**fields), RECEIVED)


def test_messages_without_a_venue_time_use_the_receive_time() -> None:
    for name in (
        "orderbook_snapshot_asyncapi_current",
        "orderbook_delta_docs_cents_and_dollars",
        "lifecycle_created_asyncapi",
    ):
        assert data_frame(name).ts_event == RECEIVED


# --- envelope and sequences --------------------------------------------------------------------


def test_subscription_sequence() -> None:
    assert kalshi.subscription_sequence(BY_NAME["orderbook_delta_asyncapi_current"]["raw"]) == (2, 3)
    assert kalshi.subscription_sequence(BY_NAME["ok_update_subscription_asyncapi"]["raw"]) == (456, 222)
    assert kalshi.subscription_sequence(BY_NAME["ticker_asyncapi_current"]["raw"]) is None
    assert kalshi.subscription_sequence(BY_NAME["subscribed_asyncapi"]["raw"]) is None
    assert kalshi.subscription_sequence("heartbeat") is None
    for raw in (b"", b"[1]", b'{"sid":1}', b'{"type":"trade","sid":0}', b'{"type":"trade","seq":true}'):
        with pytest.raises(ParseError):
            kalshi.subscription_sequence(raw)


def test_book_frames_need_a_sequence() -> None:
    frame = json.loads(delta_frame())
    del frame["seq"]
    with pytest.raises(ParseError, match="seq"):
        kalshi.parse(json.dumps(frame), RECEIVED)


# --- malformed frames --------------------------------------------------------------------------


def snapshot(levels: str) -> str:
    return '{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"M",' + levels + "}}"


MALFORMED: dict[str, str | bytes] = {
    "empty": b"",
    "not json": b"hello",
    "heartbeat with newline": b"heartbeat\n",
    "truncated": b'{"type":"trade","sid":1',
    "invalid utf-8": b'{"type":"trade","msg":{"market_ticker":"\xff"}}',
    "lone surrogate": '{"type":"\ud800"}',
    "array": b"[1,2]",
    "string": b'"trade"',
    "null": b"null",
    "empty object": b"{}",
    "type not string": b'{"type":1,"msg":{}}',
    "unknown type": b'{"type":"fill","sid":1,"msg":{}}',
    "private user order": b'{"type":"user_order","sid":1,"msg":{}}',
    "msg missing": b'{"type":"trade","sid":1,"seq":1}',
    "msg array": b'{"type":"trade","sid":1,"seq":1,"msg":[]}',
    "nested too deep": b"[" * 100_000,
    "nan literal": b'{"type":"trade","msg":{"count":NaN}}',
    "sid zero": trade_frame().replace('"sid": 11', '"sid": 0'),
    "seq string": trade_frame().replace('"seq": 2', '"seq": "2"'),
    "id negative": b'{"id":-1,"type":"subscribed","msg":{"channel":"trade","sid":1}}',
    "error without code": b'{"id":1,"type":"error","msg":{"msg":"x"}}',
    "error msg string": b'{"id":1,"type":"error","msg":"bad"}',
    "ack msg number": b'{"id":1,"type":"ok","msg":5}',
    "ticker missing": trade_frame(market_ticker=...),
    "ticker not string": trade_frame(market_ticker=5),
    "ticker with space": trade_frame(market_ticker="HIGH NY"),
    "ticker too long": trade_frame(market_ticker="X" * 129),
    "no price": trade_frame(yes_price_dollars=..., no_price_dollars=...),
    "price numeric": trade_frame(yes_price_dollars=0.36, no_price_dollars=...),
    "price zero": trade_frame(yes_price_dollars="0.0000", no_price_dollars=...),
    "price one": trade_frame(yes_price_dollars="1.0000", no_price_dollars=...),
    "price above one": trade_frame(yes_price_dollars="1.5", no_price_dollars=...),
    "price negative": trade_frame(yes_price_dollars="-0.36", no_price_dollars=...),
    "price exponent": trade_frame(yes_price_dollars="3.6E-1", no_price_dollars=...),
    "price NaN": trade_frame(yes_price_dollars="NaN", no_price_dollars=...),
    "price Infinity": trade_frame(yes_price_dollars="Infinity", no_price_dollars=...),
    "price spaces": trade_frame(yes_price_dollars=" 0.36", no_price_dollars=...),
    "price underscore": trade_frame(yes_price_dollars="0.3_6", no_price_dollars=...),
    "price arabic digits": trade_frame(yes_price_dollars="0.\u0663\u0666", no_price_dollars=...),
    "price trailing dot": trade_frame(yes_price_dollars="0.", no_price_dollars=...),
    "price leading dot": trade_frame(yes_price_dollars=".36", no_price_dollars=...),
    "price empty": trade_frame(yes_price_dollars="", no_price_dollars=...),
    "price 19 fractional digits": trade_frame(yes_price_dollars="0.1234567890123456789", no_price_dollars=...),
    "cents above 100": trade_frame(yes_price_dollars=..., no_price_dollars=..., yes_price=101),
    "cents zero": trade_frame(yes_price_dollars=..., no_price_dollars=..., yes_price=0),
    "cents float": trade_frame(yes_price_dollars=..., no_price_dollars=..., yes_price=36.0),
    "cents bool": trade_frame(yes_price_dollars=..., no_price_dollars=..., yes_price=True),
    "cents string": trade_frame(yes_price_dollars=..., no_price_dollars=..., yes_price="36"),
    "no count": trade_frame(count_fp=...),
    "count negative": trade_frame(count_fp="-1.00"),
    "count negative zero": trade_frame(count_fp="-0"),
    "count numeric": trade_frame(count_fp=136.0),
    "count 21 integer digits": trade_frame(count_fp="100000000000000000000"),
    "count int negative": trade_frame(count_fp=..., count=-3),
    "count int beyond 64 bits": trade_frame(count_fp=...).replace("}}", ', "count": 18446744073709551616}}'),
    "side missing": trade_frame(taker_side=...),
    "side bad": trade_frame(taker_side="buy"),
    "outcome side bad": trade_frame(taker_outcome_side="YES"),
    "book side bad": trade_frame(taker_book_side="buy"),
    "trade id empty": trade_frame(trade_id=""),
    "trade id number": trade_frame(trade_id=5),
    "trade id with space": trade_frame(trade_id="a b"),
    "snapshot levels not array": snapshot('"yes":{}'),
    "snapshot level triple": snapshot('"yes":[[1,2,3]]'),
    "snapshot cents as string": snapshot('"yes":[["8",1]]'),
    "snapshot dollars as number": (snapshot('"yes_dollars":[[0.08,1]]')),
    "snapshot price 100 cents": snapshot('"no":[[100,1]]'),
    "snapshot negative size": snapshot('"no":[[5,-1]]'),
    "snapshot duplicate price": (snapshot('"yes":[[5,1],[5,2]]')),
    "snapshot duplicate after scaling": (
        b'{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"M",'
        b'"yes_dollars_fp":[["0.05","1.00"],["0.0500","2.00"]]}}'
    ),
    "delta side missing": delta_frame(side=...),
    "delta side bad": delta_frame(side="bid"),
    "delta no price": delta_frame(price_dollars=...),
    "delta price zero": delta_frame(price_dollars="0.0000"),
    "delta no change": delta_frame(delta_fp=...),
    "delta change numeric": delta_frame(delta_fp=-54),
    "delta change float": delta_frame(delta_fp=..., delta=-54.0),
    "delta ts seconds": delta_frame(ts=1669149841),
    "delta ts bad string": delta_frame(ts="yesterday"),
    "ticker price above one": (
        b'{"type":"ticker","sid":1,"msg":{"market_ticker":"M","price_dollars":"1.01","ts":1669149841}}'
    ),
    "ticker bid cents string": b'{"type":"ticker","sid":1,"msg":{"market_ticker":"M","yes_bid":"45","ts":1669149841}}',
    "ticker ts in ms": b'{"type":"ticker","sid":1,"msg":{"market_ticker":"M","ts":1669149841000}}',
    "ticker size number": b'{"type":"ticker","sid":1,"msg":{"market_ticker":"M","yes_bid_size_fp":300,"ts":1}}',
    "lifecycle no event type": b'{"type":"market_lifecycle_v2","sid":1,"seq":1,"msg":{"market_ticker":"M"}}',
    "lifecycle event type upper": (
        b'{"type":"market_lifecycle_v2","sid":1,"seq":1,"msg":{"market_ticker":"M","event_type":"Created"}}'
    ),
    "lifecycle result number": (
        b'{"type":"market_lifecycle_v2","sid":1,"seq":1,'
        b'"msg":{"market_ticker":"M","event_type":"determined","result":1}}'
    ),
    "lifecycle close ts in ms": (
        b'{"type":"market_lifecycle_v2","sid":1,"seq":1,'
        b'"msg":{"market_ticker":"M","event_type":"close_date_updated","close_ts":1694718000000}}'
    ),
    "event lifecycle without event ticker": b'{"type":"event_lifecycle","sid":1,"seq":1,"msg":{"title":"x"}}',
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_frames_raise_parse_error(raw: str | bytes) -> None:
    with pytest.raises(ParseError) as caught:
        kalshi.parse(raw, RECEIVED)
    assert str(caught.value), "the error must say what is wrong"


def test_parse_error_names_the_field() -> None:
    with pytest.raises(ParseError, match="'yes_price_dollars'"):
        kalshi.parse(trade_frame(yes_price_dollars=0.36), RECEIVED)
    with pytest.raises(ParseError, match="fractional digits"):
        kalshi.parse(trade_frame(count_fp="1.0000000000000000001"), RECEIVED)
    with pytest.raises(ParseError, match="out of range"):
        kalshi.parse(trade_frame(ts=1669149841000), RECEIVED)
    with pytest.raises(ParseError, match="unsupported message type 'fill'"):
        kalshi.parse(b'{"type":"fill","sid":1,"msg":{}}', RECEIVED)


def test_edge_values_that_fit() -> None:
    tiny = parse_trade(trade_frame(yes_price_dollars="0.000000000000000001", no_price_dollars=...))
    assert tiny.price == Decimal("1E-18")
    huge = parse_trade(trade_frame(count_fp="99999999999999999999.99"))
    assert huge.size == Decimal("99999999999999999999.99")
    assert parse_trade(trade_frame(count_fp="0.00")).size == 0
    assert parse_trade(trade_frame(count_fp="000136.0000000000000000000000")).size == 136


# --- fuzzing: nothing but ParseError ever escapes ----------------------------------------------


def check_records(records: tuple[Record, ...]) -> None:
    for record in records:
        assert record.venue == "kalshi" and record.instrument == f"KALSHI:{record.symbol}"
        assert type(record.ts_event) is int and 0 < record.ts_event < 2**63
        if isinstance(record, Trade):
            assert 0 < record.price < 1 and record.size >= 0 and record.side in ("buy", "sell")
        elif isinstance(record, BookUpdate):
            for level in record.bids + record.asks:
                assert 0 < level.price < 1 and level.price.is_finite() and level.size.is_finite()
                assert record.kind == "increment" or level.size >= 0
        elif isinstance(record, Ticker):
            for price in (record.best_bid, record.best_ask, record.last_price):
                assert price is None or 0 <= price <= 1


def parse_or_parse_error(raw: str | bytes) -> None:
    try:
        result = kalshi.parse(raw, RECEIVED)
    except ParseError:
        return
    assert isinstance(result, ParsedFrame)
    assert (result.control is None) == bool(result.records)
    check_records(result.records)


def envelope_or_parse_error(raw: str | bytes) -> None:
    try:
        kalshi.envelope(raw)
        kalshi.subscription_sequence(raw)
    except ParseError:
        return


@given(st.binary(max_size=512))
@FUZZ
def test_arbitrary_bytes(raw: bytes) -> None:
    parse_or_parse_error(raw)
    envelope_or_parse_error(raw)


@given(st.text(max_size=512))
@FUZZ
def test_arbitrary_text(raw: str) -> None:
    parse_or_parse_error(raw)
    envelope_or_parse_error(raw)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
MSG_FIELDS = [
    "trade_id",
    "market_ticker",
    "event_ticker",
    "yes_price",
    "no_price",
    "yes_price_dollars",
    "no_price_dollars",
    "count",
    "count_fp",
    "taker_side",
    "taker_outcome_side",
    "taker_book_side",
    "ts",
    "ts_ms",
    "time",
    "price",
    "price_dollars",
    "delta",
    "delta_fp",
    "side",
    "yes",
    "no",
    "yes_dollars",
    "no_dollars",
    "yes_dollars_fp",
    "no_dollars_fp",
    "yes_bid",
    "yes_ask",
    "yes_bid_dollars",
    "yes_ask_dollars",
    "yes_bid_size_fp",
    "open_interest",
    "open_interest_fp",
    "event_type",
    "result",
    "determination_ts",
    "settled_ts",
    "close_ts",
]
ENVELOPE_FIELDS = ["type", "sid", "seq", "id", "msg"]
TYPES = st.sampled_from(
    [
        *("trade", "orderbook_snapshot", "orderbook_delta", "ticker", "ticker_v2", "market_lifecycle_v2"),
        *("event_lifecycle", "event_fee_update", "multivariate_market_lifecycle"),
        *("subscribed", "unsubscribed", "ok", "error", "fill"),
    ]
)
DECIMAL_TEXT = st.one_of(
    st.from_regex(r"-?[0-9]{0,22}(\.[0-9]{0,22})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["NaN", "sNaN", "Infinity", "-Inf", "1_0", " 1", "1 ", "\u0661", "", "0.5", "0.9999", "1"]),
)
LEVELS = st.lists(
    st.tuples(st.integers(min_value=-5, max_value=105) | DECIMAL_TEXT, st.integers(-5, 10**6) | DECIMAL_TEXT).map(list),
    max_size=4,
)


@st.composite
def mutated_frames(draw: st.DrawFn) -> str | bytes:
    frame = json.loads(draw(st.sampled_from([frame["raw"] for frame in FRAMES if frame["raw"] != "heartbeat"])))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        msg = frame.get("msg")
        if isinstance(msg, dict) and draw(st.booleans()):
            target, key = msg, draw(st.sampled_from(MSG_FIELDS))
        else:
            target, key = frame, draw(st.sampled_from(ENVELOPE_FIELDS))
        action = draw(st.sampled_from(["delete", "replace", "decimal", "levels", "integer", "type"]))
        if action == "delete":
            target.pop(key, None)
        elif action == "replace":
            target[key] = draw(JSON_VALUES)
        elif action == "decimal":
            target[key] = draw(DECIMAL_TEXT)
        elif action == "levels":
            target[key] = draw(LEVELS)
        elif action == "integer":
            target[key] = draw(st.integers(min_value=-(2**64), max_value=2**64))
        else:
            frame["type"] = draw(TYPES)
    text = json.dumps(frame)
    return maybe_damaged(draw, text)


@given(mutated_frames())
@FUZZ
def test_mutated_documented_frames(raw: str | bytes) -> None:
    parse_or_parse_error(raw)
    envelope_or_parse_error(raw)


@given(TYPES, JSON_VALUES)
@FUZZ
def test_arbitrary_json_bodies(kind: str, value: object) -> None:
    parse_or_parse_error(json.dumps(value))
    parse_or_parse_error(json.dumps({"type": kind, "sid": 1, "seq": 1, "msg": value}))


# --- symbols -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ticker", ["KXBTCD-25NOV2117-T95999.99", "FED-23DEC-T3.00", "HIGHNY-22DEC23-B53.5", "KXMVE-TEST-EVENT-M1"]
)
def test_symbol_mapping(ticker: str) -> None:
    instrument = kalshi.to_instrument(ticker)
    assert instrument == f"KALSHI:{ticker}"
    assert kalshi.to_symbol(instrument) == ticker


@pytest.mark.parametrize("ticker", ["", "HIGH NY", "A/B", "X" * 129, "ÄBC"])
def test_bad_tickers_raise_parse_error(ticker: str) -> None:
    with pytest.raises(ParseError):
        kalshi.to_instrument(ticker)


@pytest.mark.parametrize("instrument", ["FED-23DEC-T3.00", "POLYMARKET:123", "KALSHI:", "KALSHI:A B", "BTC-USD"])
def test_to_symbol_refuses_other_names(instrument: str) -> None:
    with pytest.raises(ValueError):
        kalshi.to_symbol(instrument)


# --- subscriptions -----------------------------------------------------------------------------


def test_subscribe_message() -> None:
    assert json.loads(kalshi.subscribe_message(["trade", "ticker"], ["FED-23DEC-T3.00"], 1)) == {
        "id": 1,
        "cmd": "subscribe",
        "params": {"channels": ["trade", "ticker"], "market_tickers": ["FED-23DEC-T3.00"]},
    }
    assert json.loads(kalshi.subscribe_message(["market_lifecycle_v2"], [], 2)) == {
        "id": 2,
        "cmd": "subscribe",
        "params": {"channels": ["market_lifecycle_v2"]},
    }
    # The book pins the NO-side pricing the parser expects.
    assert json.loads(kalshi.subscribe_message(["orderbook_delta"], ["A", "B"], 3))["params"] == {
        "channels": ["orderbook_delta"],
        "market_tickers": ["A", "B"],
        "use_yes_price": False,
    }


@pytest.mark.parametrize(
    ("channels", "tickers", "request_id"),
    [([], [], 1), (["fill"], [], 1), (["trade"], ["A B"], 1), (["trade"], "FED", 1), (["trade"], [], 0)],
)
def test_subscribe_message_refuses_bad_input(channels: list[str], tickers: Any, request_id: int) -> None:
    with pytest.raises(ValueError):
        kalshi.subscribe_message(channels, tickers, request_id)


def test_unsubscribe_and_snapshot_messages() -> None:
    assert json.loads(kalshi.unsubscribe_message([1, 2], 124)) == {
        "id": 124,
        "cmd": "unsubscribe",
        "params": {"sids": [1, 2]},
    }
    assert json.loads(kalshi.snapshot_request_message(456, ["MARKET-1"], 127)) == {
        "id": 127,
        "cmd": "update_subscription",
        "params": {"sids": [456], "market_tickers": ["MARKET-1"], "action": "get_snapshot"},
    }
    calls: list[Callable[[], object]] = [
        lambda: kalshi.unsubscribe_message([], 1),
        lambda: kalshi.unsubscribe_message([0], 1),
        lambda: kalshi.unsubscribe_message([True], 1),
        lambda: kalshi.snapshot_request_message(1, [], 1),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()


# --- authentication ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey, form: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


TS = 1703123456789


def test_signature_round_trip(rsa_key: rsa.RSAPrivateKey) -> None:
    for form in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        signature = kalshi.sign_request(pem(rsa_key, form), TS, "GET", kalshi.WS_PATH)
        assert len(base64.b64decode(signature)) == 256  # a 2048-bit RSA signature
        assert kalshi.verify_signature(public_pem(rsa_key), signature, TS, "GET", kalshi.WS_PATH)


def test_signature_is_pss_sha256_with_digest_length_salt(rsa_key: rsa.RSAPrivateKey) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signature = base64.b64decode(kalshi.sign_request(pem(rsa_key), TS, "GET", "/trade-api/ws/v2"))
    # Independently verified over Kalshi's documented message, with the documented parameters.
    rsa_key.public_key().verify(
        signature,
        b"1703123456789GET/trade-api/ws/v2",
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )


def test_tampered_requests_fail(rsa_key: rsa.RSAPrivateKey) -> None:
    key = public_pem(rsa_key)
    signature = kalshi.sign_request(pem(rsa_key), TS, "GET", kalshi.WS_PATH)
    assert not kalshi.verify_signature(key, signature, TS + 1, "GET", kalshi.WS_PATH)
    assert not kalshi.verify_signature(key, signature, TS, "POST", kalshi.WS_PATH)
    assert not kalshi.verify_signature(key, signature, TS, "GET", "/trade-api/v2/portfolio/balance")
    raw = bytearray(base64.b64decode(signature))
    raw[10] ^= 1
    assert not kalshi.verify_signature(key, base64.b64encode(raw).decode(), TS, "GET", kalshi.WS_PATH)
    assert not kalshi.verify_signature(key, "not base64!", TS, "GET", kalshi.WS_PATH)
    assert not kalshi.verify_signature(key, "", TS, "GET", kalshi.WS_PATH)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert not kalshi.verify_signature(public_pem(other), signature, TS, "GET", kalshi.WS_PATH)


def test_query_string_is_not_signed(rsa_key: rsa.RSAPrivateKey) -> None:
    signature = kalshi.sign_request(pem(rsa_key), TS, "GET", "/trade-api/v2/portfolio/orders?limit=5")
    assert kalshi.verify_signature(public_pem(rsa_key), signature, TS, "GET", "/trade-api/v2/portfolio/orders")


def test_auth_headers(rsa_key: rsa.RSAPrivateKey) -> None:
    headers = kalshi.auth_headers("a952bcbe-ec3b-4b5b-b8f9-11dae589608c", pem(rsa_key), TS)
    assert set(headers) == {"KALSHI-ACCESS-KEY", "KALSHI-ACCESS-SIGNATURE", "KALSHI-ACCESS-TIMESTAMP"}
    assert headers["KALSHI-ACCESS-KEY"] == "a952bcbe-ec3b-4b5b-b8f9-11dae589608c"
    assert headers["KALSHI-ACCESS-TIMESTAMP"] == "1703123456789"
    assert kalshi.verify_signature(
        public_pem(rsa_key), headers["KALSHI-ACCESS-SIGNATURE"], TS, "GET", "/trade-api/ws/v2"
    )


def test_signing_refuses_bad_input(rsa_key: rsa.RSAPrivateKey) -> None:
    good = pem(rsa_key)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ec_public = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    calls: list[Callable[[], object]] = [
        lambda: kalshi.sign_request(b"not a key", TS, "GET", "/x"),
        lambda: kalshi.sign_request(ec_pem, TS, "GET", "/x"),
        lambda: kalshi.sign_request(encrypted, TS, "GET", "/x"),
        lambda: kalshi.sign_request(good, 0, "GET", "/x"),
        lambda: kalshi.sign_request(good, TS / 1, "GET", "/x"),  # type: ignore[arg-type]
        lambda: kalshi.sign_request(good, TS, "get", "/x"),
        lambda: kalshi.sign_request(good, TS, "GET", "x"),
        lambda: kalshi.auth_headers("", good, TS),
        lambda: kalshi.verify_signature(b"not a key", "AAAA", TS, "GET", "/x"),
        lambda: kalshi.verify_signature(ec_public, "AAAA", TS, "GET", "/x"),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()


# --- REST history ------------------------------------------------------------------------------


BTC = "KALSHI:KXBTCD-25NOV2117-T95999.99"


def test_rest_trades_request() -> None:
    assert kalshi.rest_trades_request(BTC, None, None) == (
        "/trade-api/v2/markets/trades",
        {"ticker": "KXBTCD-25NOV2117-T95999.99", "limit": "1000"},
    )
    path, params = kalshi.rest_trades_request(BTC, "CgwI6pq6", 1763762399, max_ts=1763762500, limit=50)
    assert path == kalshi.REST_TRADES_PATH
    assert params == {
        "ticker": "KXBTCD-25NOV2117-T95999.99",
        "limit": "50",
        "cursor": "CgwI6pq6",
        "min_ts": "1763762399",
        "max_ts": "1763762500",
    }
    calls: list[Callable[[], object]] = [
        lambda: kalshi.rest_trades_request("BTC-USD", None, None),
        lambda: kalshi.rest_trades_request(BTC, None, -1),
        lambda: kalshi.rest_trades_request(BTC, None, None, limit=0),
        lambda: kalshi.rest_trades_request(BTC, None, None, limit=1001),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()


def test_rest_trades_pages() -> None:
    page1 = (FIXTURES / "rest_trades_page1.json").read_bytes()
    trades, cursor = kalshi.parse_rest_trades(page1, RECEIVED, BTC)
    assert cursor == "CgwI6pq6yQYQgJaRnwMSJGEzYzVlN2Y5LTFiMmQtNGY2MC04MTkyLWEzYjRjNWQ2ZTdmOA=="
    common: dict[str, Any] = {
        "venue": "kalshi",
        "instrument": BTC,
        "symbol": "KXBTCD-25NOV2117-T95999.99",
        "ts_recv": RECEIVED,
    }
    assert trades == [
        Trade(
            **common,
            trade_id="0b9a4f5e-6c1d-4e2f-8a3b-5c6d7e8f9a0b",
            price=Decimal("0.3450"),
            size=Decimal("10.67"),
            side="buy",
            ts_event=1_763_762_400_123_000_000,
        ),
        Trade(
            **common,
            trade_id="a3c5e7f9-1b2d-4f60-8192-a3b4c5d6e7f8",
            price=Decimal("0.3600"),
            size=Decimal("136.00"),
            side="sell",
            ts_event=1_763_762_398_354_888_000,
        ),
    ]
    trades, cursor = kalshi.parse_rest_trades((FIXTURES / "rest_trades_page2.json").read_bytes(), RECEIVED, BTC)
    assert cursor is None
    assert [(t.trade_id, t.price, t.size, t.side) for t in trades] == [
        ("c0ffee00-1234-4abc-9def-0123456789ab", Decimal("0.35"), Decimal(5), "sell")
    ]


def test_rest_and_websocket_copies_of_a_trade_are_identical() -> None:
    ws = data_frame("trade_taker_yes_subpenny_fractional")
    rest, _ = kalshi.parse_rest_trades((FIXTURES / "rest_trades_page1.json").read_bytes(), RECEIVED, BTC)
    assert rest[0] == ws


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'{"cursor":""}',
        b'{"trades":{},"cursor":""}',
        b'{"trades":[],"cursor":5}',
        b'{"trades":[1],"cursor":""}',
        # A trade of another market in this instrument's page.
        b'{"trades":[{"trade_id":"t1","ticker":"OTHER","yes_price":36,"count":1,"taker_side":"no",'
        b'"created_time":"2025-11-21T22:00:00Z"}],"cursor":""}',
        # REST trades always have an id.
        b'{"trades":[{"ticker":"KXBTCD-25NOV2117-T95999.99","yes_price":36,"count":1,"taker_side":"no",'
        b'"created_time":"2025-11-21T22:00:00Z"}],"cursor":""}',
        b'{"trades":[{"trade_id":"t1","ticker":"KXBTCD-25NOV2117-T95999.99","yes_price":36,"count":1,'
        b'"taker_side":"no"}],"cursor":""}',
    ],
)
def test_malformed_rest_pages(body: bytes) -> None:
    with pytest.raises(ParseError):
        kalshi.parse_rest_trades(body, RECEIVED, BTC)


@given(st.binary(max_size=256) | JSON_VALUES.map(lambda value: json.dumps({"trades": [value], "cursor": ""}).encode()))
@FUZZ
def test_rest_pages_raise_only_parse_error(body: bytes) -> None:
    try:
        trades, _ = kalshi.parse_rest_trades(body, RECEIVED, BTC)
    except ParseError:
        return
    check_records(tuple(trades))

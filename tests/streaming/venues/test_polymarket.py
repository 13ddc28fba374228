"""The Polymarket market-channel parser against documented and captured frames, REST repair, and fuzzing."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import zlib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from venue_fuzz import maybe_damaged

from contracts.records import BookUpdate, Level, Lifecycle, Record, Ticker, Trade
from streaming.errors import ParseError
from streaming.venues import polymarket
from streaming.venues.base import Control, ParsedFrame

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "polymarket"
FRAMES: list[dict[str, Any]] = [
    json.loads(line) for line in (FIXTURES / "frames.jsonl").read_text().splitlines() if line
]
DATA_FRAMES = [frame for frame in FRAMES if "records" in frame["expect"]]
RECEIVED = 1_800_000_000_000_000_000

YES = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NO = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
MARKET = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"

FUZZ = settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def ltp(**changes: Any) -> dict[str, Any]:
    """A last_trade_price message; a value of ``...`` removes the key."""
    message: dict[str, Any] = {
        "event_type": "last_trade_price",
        "asset_id": YES,
        "market": MARKET,
        "price": "0.456",
        "size": "219.217767",
        "fee_rate_bps": "0",
        "side": "BUY",
        "timestamp": "1750428146322",
        "transaction_hash": "0xc6708a8b57ab936d8bd50be18b0bb55b64d27b5224b7c48ce487fef16fa0de0a",
    }
    message.update(changes)
    return {key: value for key, value in message.items() if value is not ...}


def price_change(*changes: dict[str, Any], **top: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"market": MARKET, "price_changes": list(changes), "timestamp": "1757908892351"}
    message["event_type"] = "price_change"
    message.update(top)
    return {key: value for key, value in message.items() if value is not ...}


def change(**fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"asset_id": YES, "price": "0.5", "size": "200", "side": "BUY", "hash": "ab"}
    entry.update(fields)
    return {key: value for key, value in entry.items() if value is not ...}


def parse_records(payload: object) -> tuple[Record, ...]:
    raw = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    frame = polymarket.parse(raw, RECEIVED)
    assert frame.control is None and frame.channel == "market"
    return frame.records


def parse_trade(payload: object) -> Trade:
    (record,) = parse_records(payload)
    assert isinstance(record, Trade)
    return record


def expected_record(item: dict[str, Any]) -> Record:
    common = {"venue": "polymarket", "instrument": item["instrument"], "symbol": item["symbol"]}
    times = {"ts_event": item["ts_event"], "ts_recv": item["ts_recv"]}
    kind = item["type"]
    if kind == "trade":
        return Trade(
            **common,
            trade_id=item["trade_id"],
            price=Decimal(item["price"]),
            size=Decimal(item["size"]),
            side=item["side"],
            **times,
        )
    if kind == "book":
        return BookUpdate(
            **common,
            kind=item["kind"],
            bids=tuple(Level(Decimal(price), Decimal(size)) for price, size in item["bids"]),
            asks=tuple(Level(Decimal(price), Decimal(size)) for price, size in item["asks"]),
            **times,
            checksum=item.get("checksum"),
        )
    if kind == "ticker":
        bid, ask = (None if item[key] is None else Decimal(item[key]) for key in ("best_bid", "best_ask"))
        return Ticker(**common, **times, best_bid=bid, best_ask=ask)
    assert kind == "lifecycle"
    return Lifecycle(
        **common,
        event=item["event"],
        **times,
        status=item["status"],
        result=item["result"],
        details=None if item["details"] is None else json.dumps(item["details"], sort_keys=True),
    )


def decimals_of(record: Record) -> list[Decimal]:
    if isinstance(record, Trade):
        return [record.price, record.size]
    if isinstance(record, BookUpdate):
        return [value for level in (*record.bids, *record.asks) for value in (level.price, level.size)]
    if isinstance(record, Ticker):
        return [value for value in (record.best_bid, record.best_ask) if value is not None]
    return []


# --- documented and captured frames ------------------------------------------------------------


def test_fixtures_cover_every_kind() -> None:
    names = [frame["name"] for frame in FRAMES]
    assert len(set(names)) == len(names), "fixture names must be unique"
    raws = [frame["raw"] for frame in DATA_FRAMES]
    for event in ("book", "price_change", "last_trade_price", "tick_size_change", "best_bid_ask"):
        assert any(f'"event_type":"{event}"' in raw for raw in raws), event
    assert any('"event_type":"new_market"' in raw for raw in raws)
    assert any('"event_type":"market_resolved"' in raw for raw in raws)
    assert any('"price_changes"' in raw for raw in raws) and any('"changes"' in raw for raw in raws)
    assert any(raw.startswith("[{") for raw in raws) and "[]" in raws
    assert any('"buys"' in raw for raw in raws) and any('"price":".48"' in raw for raw in raws)
    assert any('"transaction_hash"' in raw for raw in raws)
    assert any('"event_type":"last_trade_price"' in raw and '"transaction_hash"' not in raw for raw in raws)
    assert {frame["expect"].get("control") for frame in FRAMES} >= {"heartbeat", "error"}
    assert {frame["raw"] for frame in FRAMES} >= {"PONG", "PING"}
    assert all(frame["source"] for frame in FRAMES)


@pytest.mark.parametrize("frame", FRAMES, ids=[frame["name"] for frame in FRAMES])
def test_fixture_frame(frame: dict[str, Any]) -> None:
    for raw in (frame["raw"], frame["raw"].encode()):
        parsed = polymarket.parse(raw, frame["received_at"])
        expect = frame["expect"]
        if "control" in expect:
            assert parsed == ParsedFrame(channel="", control=expect["control"])
            continue
        assert parsed.control is None
        assert parsed.channel == expect["channel"]
        wanted = tuple(expected_record(item) for item in expect["records"])
        got = tuple(
            # Compare details as JSON values; their text form is checked in test_lifecycle_details_are_canonical.
            record if not isinstance(record, Lifecycle) or record.details is None else _with_details_as(record)
            for record in parsed.records
        )
        assert got == wanted
        for record, want in zip(parsed.records, wanted, strict=True):
            # Exact text, not just equal value: the wire's digits and scale are kept.
            assert [value.as_tuple() for value in decimals_of(record)] == [
                value.as_tuple() for value in decimals_of(want)
            ]
            assert type(record.ts_event) is int and type(record.ts_recv) is int


def _with_details_as(record: Lifecycle) -> Lifecycle:
    assert record.details is not None
    return dataclasses.replace(record, details=json.dumps(json.loads(record.details), sort_keys=True))


def test_lifecycle_details_are_canonical() -> None:
    frame = next(frame for frame in FRAMES if frame["name"] == "tick_size_change_api_reference")
    (record,) = polymarket.parse(frame["raw"], RECEIVED).records
    assert isinstance(record, Lifecycle)
    assert record.details == (
        '{"market":"0xbd31dc8a20211944f6b70f31557f1001557b59905b7738480ca09bd4532f84af",'
        '"new_tick_size":"0.001","old_tick_size":"0.01"}'
    )


def test_leading_dot_prices_are_exact() -> None:
    message = {"event_type": "book", "asset_id": YES, "market": MARKET, "timestamp": "1", "hash": "h"}
    (book,) = parse_records(
        {**message, "bids": [{"price": ".48", "size": "30"}], "asks": [{"price": ".5", "size": ".25"}]}
    )
    assert isinstance(book, BookUpdate)
    assert book.bids == (Level(Decimal("0.48"), Decimal("30")),)
    assert book.bids[0].price.as_tuple() == Decimal("0.48").as_tuple() == Decimal(".48").as_tuple()
    assert str(book.bids[0].price) == "0.48"
    assert str(book.asks[0].price) == "0.5" and str(book.asks[0].size) == "0.25"
    assert parse_trade(ltp(price=".480")).price.as_tuple() == Decimal("0.480").as_tuple()


def test_price_change_sizes_are_absolute_levels_and_sides_map_to_book_sides() -> None:
    records = parse_records(
        price_change(
            change(price="0.48", size="0", side="BUY", best_bid="0.47", best_ask="0.52"),
            change(price="0.52", size="12.5", side="SELL", best_bid="0.47", best_ask="0.52"),
        )
    )
    book, ticker = records
    assert isinstance(book, BookUpdate) and isinstance(ticker, Ticker)
    assert book.kind == "delta"
    assert book.bids == (Level(Decimal("0.48"), Decimal(0)),)
    assert book.asks == (Level(Decimal("0.52"), Decimal("12.5")),)
    assert book.sequence is None
    assert book.checksum == zlib.crc32(b"0.47|0.52") == polymarket.top_checksum(Decimal("0.47"), Decimal("0.52"))


def test_price_change_without_quotes_has_no_ticker() -> None:
    records = parse_records(price_change(change(), change(asset_id=NO, best_bid="0.4")))
    assert [type(record) for record in records] == [BookUpdate, BookUpdate, Ticker]
    assert records[2].symbol == NO


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("0.5", Decimal("0.5")),
        (".73", Decimal("0.73")),
        ("0", None),
        ("1", None),
        ("1.00", None),
        ("", None),
        (None, None),
    ],
)
def test_quote_sentinels(wire: str | None, expected: Decimal | None) -> None:
    message = {"event_type": "best_bid_ask", "asset_id": YES, "market": MARKET, "timestamp": "1", "best_ask": "0.9"}
    (ticker,) = parse_records({**message, "best_bid": wire})
    assert isinstance(ticker, Ticker)
    assert ticker.best_bid == expected and ticker.best_ask == Decimal("0.9")


def test_resolution_marks_the_winner_yes() -> None:
    message = {
        "event_type": "market_resolved",
        "market": MARKET,
        "assets_ids": [YES, NO],
        "outcomes": ["Up", "Down"],
        "winning_asset_id": NO,
        "winning_outcome": "Down",
        "timestamp": "1769000007000",
    }
    records = parse_records(message)
    assert [(record.symbol, record.event, record.result) for record in records if isinstance(record, Lifecycle)] == [
        (YES, "settled", "no"),
        (NO, "settled", "yes"),
    ]
    assert json.loads(records[0].details)["outcome"] == "Up"  # type: ignore[union-attr, arg-type]


# --- arrays ------------------------------------------------------------------------------------


def test_array_frames_keep_message_order() -> None:
    first, second = ltp(), ltp(asset_id=NO, transaction_hash="0x01")
    records = parse_records([first, {"event_type": "best_bid_ask", "asset_id": YES, "timestamp": "2"}, second])
    assert [type(record).__name__ for record in records] == ["Trade", "Ticker", "Trade"]
    assert [record.symbol for record in records] == [YES, YES, NO]


def test_array_is_all_or_nothing() -> None:
    with pytest.raises(ParseError, match="item 1"):
        polymarket.parse(json.dumps([ltp(), 5]), RECEIVED)
    with pytest.raises(ParseError, match="'price'"):
        polymarket.parse(json.dumps([ltp(), ltp(price=0.5)]), RECEIVED)


# --- trades: side, time, identity --------------------------------------------------------------


def test_side_is_the_taker_side() -> None:
    assert parse_trade(ltp(side="BUY")).side == "buy"
    assert parse_trade(ltp(side="SELL")).side == "sell"
    assert parse_trade(ltp(side=...)).side == "unknown"
    assert parse_trade(ltp(side=None)).side == "unknown"
    with pytest.raises(ParseError, match="'side'"):
        parse_trade(ltp(side="TAKER"))


def test_millisecond_strings_become_nanoseconds() -> None:
    assert parse_trade(ltp(timestamp="1750428146322")).ts_event == 1_750_428_146_322_000_000
    assert parse_trade(ltp(timestamp=1750428146322)).ts_event == 1_750_428_146_322_000_000
    assert parse_trade(ltp(timestamp="9223372036854")).ts_event == 9_223_372_036_854_000_000
    assert parse_trade(ltp()).ts_recv == RECEIVED
    for bad in ("9223372036855", "0", "-1", "1.5", "", " 1", "1e12", 1.5, True, None):
        with pytest.raises(ParseError, match="timestamp"):
            parse_trade(ltp(timestamp=bad))


def test_trade_id_is_the_lower_case_transaction_hash() -> None:
    upper = "0x55135CF4E359B6B53BB99A3BAE54D102572268AE4CB816FCF6A648D0116D7F56"
    assert parse_trade(ltp(transaction_hash=upper)).trade_id == upper.lower()
    # Re-delivery of the same match gives the same id, whatever else differs in the copy.
    assert parse_trade(ltp(fee_rate_bps="10")).trade_id == parse_trade(ltp()).trade_id


def test_fallback_trade_id_is_deterministic_and_distinct() -> None:
    base = ltp(transaction_hash=...)
    first = parse_trade(base).trade_id
    assert first == parse_trade(dict(base)).trade_id == parse_trade(ltp(transaction_hash="")).trade_id
    text = f"{YES}|1750428146322|0.456|219.217767|buy"
    assert first == "h:" + hashlib.sha256(text.encode()).hexdigest()[:32]
    # The same trade written with other decimal spellings keeps its id.
    assert parse_trade({**base, "price": ".4560", "size": "219.2177670"}).trade_id == first
    variants = [
        {**base, "price": "0.457"},
        {**base, "size": "219.217768"},
        {**base, "side": "SELL"},
        {**base, "side": ...},
        {**base, "timestamp": "1750428146323"},
        {**base, "asset_id": NO},
    ]
    ids = {parse_trade({k: v for k, v in variant.items() if v is not ...}).trade_id for variant in variants}
    assert first not in ids and len(ids) == len(variants)


@given(
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1"), places=3),
    st.decimals(min_value=Decimal(0), max_value=Decimal("1E9"), places=6),
    st.sampled_from(["buy", "sell", "unknown"]),
    st.integers(min_value=1, max_value=2_000_000_000_000),
)
@FUZZ
def test_trade_id_function_is_pure(price: Decimal, size: Decimal, side: Any, ms: int) -> None:
    first = polymarket.trade_id(YES, ms, price, size, side)
    assert first == polymarket.trade_id(YES, ms, Decimal(str(price)), Decimal(str(size)), side)
    assert first.startswith("h:") and len(first) == 34
    assert polymarket.trade_id(YES, ms, price, size, side, "0xAB") == "0xab"


# --- exact decimals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.00000123", Decimal("0.00000123")),
        (".5", Decimal("0.5")),
        ("12000000000.00000000", Decimal("12000000000")),
        ("5.1E-05", Decimal("0.000051")),
        (".5e1", Decimal("5")),
        ("0.000000000000000001", Decimal("1E-18")),
        ("99999999999999999999.999999999999999999", Decimal("99999999999999999999.999999999999999999")),
        ("1.000000000000000000000000", Decimal("1")),
        ("00012.5", Decimal("12.5")),
        ("7.", Decimal("7")),
    ],
)
def test_exact_decimals(text: str, expected: Decimal) -> None:
    trade = parse_trade(ltp(price=text, size=text))
    assert trade.price == expected and trade.size == expected
    assert trade.price.as_tuple() == Decimal(text).as_tuple()


@given(st.decimals(min_value=Decimal("1E-18"), max_value=Decimal("1E20") - 1, places=18, allow_nan=False))
@FUZZ
def test_every_storable_decimal_round_trips(value: Decimal) -> None:
    text = format(value, "f")
    trade = parse_trade(ltp(price=text, size=text))
    assert trade.price == value and trade.size == value
    if text.startswith("0."):
        assert parse_trade(ltp(price=text[1:])).price == value


# --- malformed frames --------------------------------------------------------------------------

BOOK = {"event_type": "book", "asset_id": YES, "market": MARKET, "bids": [], "asks": [], "timestamp": "1", "hash": "h"}

MALFORMED: dict[str, str | bytes] = {
    "empty": b"",
    "not json": b"hello",
    "pong lower case": b"pong",
    "pong with junk": b"PONG!",
    "truncated": b'{"event_type":"book","asset_id":"1',
    "invalid utf-8": b'{"event_type":"book","asset_id":"\xff"}',
    "lone surrogate": '{"event_type":"\ud800"}',
    "string": b'"book"',
    "number": b"42",
    "null": b"null",
    "array of numbers": b"[1,2]",
    "nested arrays": b"[[]]",
    "empty object": b"{}",
    "nested too deep": b"[" * 100_000,
    "nan literal": b'{"event_type":"last_trade_price","price":NaN}',
    "unknown event": json.dumps({**BOOK, "event_type": "order"}),
    "event not string": json.dumps({**BOOK, "event_type": 1}),
    "book asset missing": json.dumps({key: value for key, value in BOOK.items() if key != "asset_id"}),
    "book asset numeric": json.dumps(
        {**BOOK, "asset_id": 71321045679252212594626385532706912750332728571942532289631379}
    ),
    "book asset bad chars": json.dumps({**BOOK, "asset_id": "7132 1"}),
    "book asset too long": json.dumps({**BOOK, "asset_id": "1" * 129}),
    "book bids missing": json.dumps({key: value for key, value in BOOK.items() if key != "bids"}),
    "book bids and buys": json.dumps({**BOOK, "buys": []}),
    "book bids object": json.dumps({**BOOK, "bids": {"price": "0.5", "size": "1"}}),
    "book level array": json.dumps({**BOOK, "bids": [["0.5", "1"]]}),
    "book level numeric price": json.dumps({**BOOK, "asks": [{"price": 0.5, "size": "1"}]}),
    "book level zero price": json.dumps({**BOOK, "asks": [{"price": "0", "size": "1"}]}),
    "book level negative size": json.dumps({**BOOK, "asks": [{"price": "0.5", "size": "-1"}]}),
    "book level missing size": json.dumps({**BOOK, "asks": [{"price": "0.5"}]}),
    "book hash numeric": json.dumps({**BOOK, "hash": 5}),
    "book timestamp missing": json.dumps({key: value for key, value in BOOK.items() if key != "timestamp"}),
    "book timestamp iso": json.dumps({**BOOK, "timestamp": "2025-01-01T00:00:00Z"}),
    "price_change no changes": json.dumps(price_change(price_changes=...)),
    "price_change both formats": json.dumps(price_change(change(), changes=[])),
    "price_change changes not array": json.dumps(price_change(price_changes={"a": 1})),
    "price_change item not object": json.dumps(price_change("x")),  # type: ignore[arg-type]
    "price_change item without asset": json.dumps(price_change(change(asset_id=...))),
    "price_change bad side": json.dumps(price_change(change(side="BID"))),
    "price_change missing side": json.dumps(price_change(change(side=...))),
    "price_change bad best_bid": json.dumps(price_change(change(best_bid="abc"))),
    "price_change negative best_ask": json.dumps(price_change(change(best_ask="-0.5"))),
    "price_change hash numeric": json.dumps(price_change(change(hash=1))),
    "price_change no timestamp": json.dumps(price_change(change(), timestamp=...)),
    "legacy without asset": json.dumps({"event_type": "price_change", "changes": [], "timestamp": "1"}),
    "legacy changes not array": json.dumps(
        {"event_type": "price_change", "asset_id": YES, "changes": 1, "timestamp": "1"}
    ),
    "legacy change without price": json.dumps(
        {"event_type": "price_change", "asset_id": YES, "changes": [{"side": "BUY", "size": "1"}], "timestamp": "1"}
    ),
    "trade missing price": json.dumps(ltp(price=...)),
    "trade missing size": json.dumps(ltp(size=...)),
    "trade missing asset": json.dumps(ltp(asset_id=...)),
    "trade missing timestamp": json.dumps(ltp(timestamp=...)),
    "trade numeric price": json.dumps(ltp(price=0.456)),
    "trade numeric size": json.dumps(ltp(size=1)),
    "trade zero price": json.dumps(ltp(price="0.000")),
    "trade negative price": json.dumps(ltp(price="-0.5")),
    "trade negative zero size": json.dumps(ltp(size="-0")),
    "trade price NaN": json.dumps(ltp(price="NaN")),
    "trade price Infinity": json.dumps(ltp(price="Infinity")),
    "trade price with spaces": json.dumps(ltp(price=" 0.5")),
    "trade price underscore": json.dumps(ltp(price="0_5")),
    "trade price arabic digits": json.dumps(ltp(price="\u0660.\u0665")),
    "trade price dot only": json.dumps(ltp(price=".")),
    "trade price empty": json.dumps(ltp(price="")),
    "trade price hex": json.dumps(ltp(price="0x1")),
    "trade 19 fractional digits": json.dumps(ltp(price="0.0000000000000000001")),
    "trade 21 integer digits": json.dumps(ltp(size="100000000000000000000")),
    "trade huge exponent": json.dumps(ltp(size="1E+999999999")),
    "trade side lower junk": json.dumps(ltp(side="b")),
    "trade side numeric": json.dumps(ltp(side=1)),
    "trade tx hash without 0x": json.dumps(ltp(transaction_hash="abcdef")),
    "trade tx hash numeric": json.dumps(ltp(transaction_hash=5)),
    "trade tx hash with space": json.dumps(ltp(transaction_hash="0xab cd")),
    "tick size missing new": json.dumps(
        {"event_type": "tick_size_change", "asset_id": YES, "old_tick_size": "0.01", "timestamp": "1"}
    ),
    "tick size zero": json.dumps(
        {
            "event_type": "tick_size_change",
            "asset_id": YES,
            "old_tick_size": "0.01",
            "new_tick_size": "0",
            "timestamp": "1",
        }
    ),
    "tick size bad side": json.dumps(
        {
            "event_type": "tick_size_change",
            "asset_id": YES,
            "old_tick_size": "0.01",
            "new_tick_size": "0.001",
            "side": "X",
            "timestamp": "1",
        }
    ),
    "best_bid_ask no asset": json.dumps({"event_type": "best_bid_ask", "best_bid": "0.5", "timestamp": "1"}),
    "best_bid_ask numeric": json.dumps(
        {"event_type": "best_bid_ask", "asset_id": YES, "best_bid": 0.5, "timestamp": "1"}
    ),
    "new_market no assets": json.dumps({"event_type": "new_market", "market": MARKET, "timestamp": "1"}),
    "new_market empty assets": json.dumps({"event_type": "new_market", "assets_ids": [], "timestamp": "1"}),
    "new_market duplicate assets": json.dumps({"event_type": "new_market", "assets_ids": [YES, YES], "timestamp": "1"}),
    "new_market outcomes mismatch": json.dumps(
        {"event_type": "new_market", "assets_ids": [YES, NO], "outcomes": ["Yes"], "timestamp": "1"}
    ),
    "new_market outcomes not strings": json.dumps(
        {"event_type": "new_market", "assets_ids": [YES], "outcomes": [1], "timestamp": "1"}
    ),
    "new_market id object": json.dumps({"event_type": "new_market", "assets_ids": [YES], "id": {}, "timestamp": "1"}),
    "new_market question numeric": json.dumps(
        {"event_type": "new_market", "assets_ids": [YES], "question": 5, "timestamp": "1"}
    ),
    "resolved winner not listed": json.dumps(
        {"event_type": "market_resolved", "assets_ids": [YES], "winning_asset_id": NO, "timestamp": "1"}
    ),
    "resolved no winner": json.dumps({"event_type": "market_resolved", "assets_ids": [YES, NO], "timestamp": "1"}),
    "resolved outcome numeric": json.dumps(
        {"event_type": "market_resolved", "winning_asset_id": NO, "winning_outcome": 1, "timestamp": "1"}
    ),
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_frames_raise_parse_error(raw: str | bytes) -> None:
    with pytest.raises(ParseError) as caught:
        polymarket.parse(raw, RECEIVED)
    assert str(caught.value), "the error must say what is wrong"


def test_parse_error_names_the_field() -> None:
    with pytest.raises(ParseError, match="'price'"):
        polymarket.parse(json.dumps(ltp(price=0.5)), RECEIVED)
    with pytest.raises(ParseError, match=r"price_changes\[1\]: 'size'"):
        polymarket.parse(json.dumps(price_change(change(), change(size="x"))), RECEIVED)
    with pytest.raises(ParseError, match=r"asks\[0\]: 'price'"):
        polymarket.parse(json.dumps({**BOOK, "asks": [{"price": "1.2.3", "size": "1"}]}), RECEIVED)
    with pytest.raises(ParseError, match="fractional digits"):
        polymarket.parse(json.dumps(ltp(price="0.0000000000000000001")), RECEIVED)
    with pytest.raises(ParseError, match="unknown event_type"):
        polymarket.parse(json.dumps({**BOOK, "event_type": "order"}), RECEIVED)


def test_control_frames_are_never_data() -> None:
    cases: list[tuple[str, Control]] = [("PONG", "heartbeat"), ("PING", "heartbeat"), ("INVALID OPERATION", "error")]
    for text, control in cases:
        for raw in (text, text.encode(), f" {text}\n", f"{text}\r\n".encode()):
            assert polymarket.parse(raw, RECEIVED) == ParsedFrame(channel="", control=control)
    # A JSON string that spells a control word is not a control frame.
    with pytest.raises(ParseError):
        polymarket.parse('"PONG"', RECEIVED)


# --- fuzzing: nothing but ParseError ever escapes ----------------------------------------------


def check_invariants(result: ParsedFrame) -> None:
    assert isinstance(result, ParsedFrame)
    if result.control is not None:
        assert result.records == () and result.channel == ""
        return
    assert result.channel == "market"
    for record in result.records:
        assert record.venue == "polymarket"
        assert record.instrument == f"POLYMARKET:{record.symbol}"
        assert type(record.ts_event) is int and 0 < record.ts_event < 2**63
        assert record.ts_recv == RECEIVED
        for value in decimals_of(record):
            assert isinstance(value, Decimal) and value.is_finite() and not value.is_signed()
        if isinstance(record, Trade):
            assert record.price > 0 and record.side in ("buy", "sell", "unknown") and record.trade_id
        elif isinstance(record, BookUpdate):
            assert record.kind in ("snapshot", "delta")
            assert all(level.price > 0 for level in (*record.bids, *record.asks))
        elif isinstance(record, Ticker):
            assert all(quote is None or 0 < quote != 1 for quote in (record.best_bid, record.best_ask))
        else:
            assert isinstance(record, Lifecycle)
            assert record.event in ("created", "settled", "tick_size")
            assert record.details is None or isinstance(json.loads(record.details), dict)


def parse_or_parse_error(raw: str | bytes) -> None:
    try:
        result = polymarket.parse(raw, RECEIVED)
    except ParseError:
        return
    check_invariants(result)


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
FIELDS = [
    "event_type",
    "asset_id",
    "market",
    "price",
    "size",
    "side",
    "timestamp",
    "hash",
    "bids",
    "asks",
    "buys",
    "sells",
    "price_changes",
    "changes",
    "best_bid",
    "best_ask",
    "transaction_hash",
    "old_tick_size",
    "new_tick_size",
    "assets_ids",
    "outcomes",
    "winning_asset_id",
    "winning_outcome",
    "id",
]
KEYS = st.sampled_from(FIELDS)
VALUE_TEXT = st.one_of(
    st.from_regex(r"-?[0-9]{0,22}(\.[0-9]{0,22})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["NaN", "sNaN", "Infinity", "-0", "0", "1", ".", "", " 1", "\u0661", "BUY", "SELL", YES, NO]),
    st.sampled_from(["book", "price_change", "last_trade_price", "best_bid_ask", "new_market", "market_resolved"]),
)


def _targets(value: object) -> list[dict[str, Any]]:
    """Every object in a decoded frame (messages, levels, changes), to mutate any of them."""
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


@st.composite
def mutated_frames(draw: st.DrawFn) -> str | bytes:
    raw = draw(st.sampled_from([frame["raw"] for frame in DATA_FRAMES if frame["raw"] != "[]"]))
    frame = json.loads(raw)
    targets = _targets(frame)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(targets))
        key = draw(KEYS)
        action = draw(st.sampled_from(["delete", "replace", "text"]))
        if action == "delete":
            target.pop(key, None)
        elif action == "replace":
            target[key] = draw(JSON_VALUES)
        else:
            target[key] = draw(VALUE_TEXT)
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
    parse_or_parse_error(json.dumps([value]))
    for event in ("book", "price_change", "last_trade_price", "market_resolved"):
        if isinstance(value, dict):
            parse_or_parse_error(json.dumps({**value, "event_type": event}))


# --- REST: trades for gap repair ----------------------------------------------------------------

REST_TRADES = (FIXTURES / "rest_trades.json").read_bytes()


def test_rest_trades_request() -> None:
    url, params = polymarket.rest_trades_request(f"POLYMARKET:{YES}", MARKET, limit=100, offset=200)
    assert url == "https://data-api.polymarket.com/trades"
    assert params == {"market": MARKET, "takerOnly": "true", "limit": "100", "offset": "200"}
    assert polymarket.rest_trades_request(f"POLYMARKET:{YES}", MARKET, base_url="http://127.0.0.1:9/pm/")[0] == (
        "http://127.0.0.1:9/pm/trades"
    )
    for bad in (
        {"market": "0x12"},
        {"limit": 0},
        {"limit": 10_001},
        {"offset": -1},
        {"offset": 10_001},
        {"limit": True},
    ):
        with pytest.raises(ValueError):
            arguments: dict[str, Any] = {"market": MARKET, **bad}
            polymarket.rest_trades_request(f"POLYMARKET:{YES}", **arguments)
    with pytest.raises(ValueError):
        polymarket.rest_trades_request("BTC-USDT", MARKET)


def test_rest_trades_keep_the_instruments_rows_exactly() -> None:
    trades = polymarket.parse_rest_trades(REST_TRADES, RECEIVED, f"POLYMARKET:{YES}")
    assert trades == [
        Trade(
            venue="polymarket",
            instrument=f"POLYMARKET:{YES}",
            symbol=YES,
            trade_id="0x55135cf4e359b6b53bb99a3bae54d102572268ae4cb816fcf6a648d0116d7f56",
            price=Decimal("0.61"),
            size=Decimal("5"),
            side="sell",
            ts_event=1_769_000_003_000_000_000,
            ts_recv=RECEIVED,
        ),
        Trade(
            venue="polymarket",
            instrument=f"POLYMARKET:{YES}",
            symbol=YES,
            trade_id="0xc6708a8b57ab936d8bd50be18b0bb55b64d27b5224b7c48ce487fef16fa0de0a",
            price=Decimal("0.456"),
            size=Decimal("219.217767"),
            side="buy",
            ts_event=1_769_000_001_000_000_000,
            ts_recv=RECEIVED,
        ),
        Trade(
            venue="polymarket",
            instrument=f"POLYMARKET:{YES}",
            symbol=YES,
            trade_id="0xfddccf969b857353f047b2540a25175a77fc7d87c4f426cdf3172788cad97a85",
            price=Decimal("0.001"),
            size=Decimal("0.000001"),
            side="buy",
            ts_event=1_769_000_000_000_000_000,
            ts_recv=RECEIVED,
        ),
    ]
    # The JSON numbers are read from their literal text: 219.217767 keeps its six places, no float noise.
    assert trades[1].size.as_tuple() == Decimal("219.217767").as_tuple()
    other = polymarket.parse_rest_trades(REST_TRADES, RECEIVED, f"POLYMARKET:{NO}")
    assert [(trade.symbol, trade.side, trade.price) for trade in other] == [(NO, "buy", Decimal("0.39"))]


def test_rest_repair_deduplicates_with_the_stream() -> None:
    streamed = next(frame for frame in FRAMES if frame["name"] == "last_trade_price_sell_upper_case_hash")
    (live,) = polymarket.parse(streamed["raw"], RECEIVED).records
    assert isinstance(live, Trade)
    repaired = polymarket.parse_rest_trades(REST_TRADES, RECEIVED, live.instrument)
    match = [trade for trade in repaired if trade.trade_id == live.trade_id]
    assert len(match) == 1
    (rest,) = match
    identity = ("venue", "symbol", "trade_id", "side", "price", "size")
    assert [getattr(rest, key) for key in identity] == [getattr(live, key) for key in identity]
    assert rest.ts_event == live.ts_event // 1_000_000_000 * 1_000_000_000  # seconds on the Data API


def test_rest_trades_accept_string_numbers() -> None:
    row = {
        "asset": YES,
        "side": "BUY",
        "price": "0.5",
        "size": "10.50",
        "timestamp": "1769000000",
        "transactionHash": "0xAA",
    }
    (trade,) = polymarket.parse_rest_trades(json.dumps([row]), RECEIVED, f"POLYMARKET:{YES}")
    assert (trade.price, str(trade.size), trade.trade_id) == (Decimal("0.5"), "10.50", "0xaa")


def test_asset_markets_map_assets_to_their_condition_ids() -> None:
    by_name = {frame["name"]: frame["raw"] for frame in FRAMES}
    assert polymarket.asset_markets(by_name["price_change_current_docs"]) == {YES: MARKET, NO: MARKET}
    nvda = "0x311d0c4b6671ab54af4970c06fcf58662516f5168997bdda209ec3db5aa6b0c1"
    assert set(polymarket.asset_markets(by_name["new_market_docs"].encode()).values()) == {nvda}
    assert len(polymarket.asset_markets(by_name["mixed_array_of_docs_examples"])) == 4
    assert polymarket.asset_markets(by_name["book_api_reference"]) == {
        "65818619657568813474341868652308942079804919287380422192892211131408793125422": (
            "0xbd31dc8a20211944f6b70f31557f1001557b59905b7738480ca09bd4532f84af"
        )
    }
    assert polymarket.asset_markets("PONG") == {} == polymarket.asset_markets("[]")
    assert polymarket.asset_markets(json.dumps({"asset_id": YES, "market": "0x12"})) == {}
    with pytest.raises(ParseError):
        polymarket.asset_markets(b"\xff{")


@given(JSON_VALUES)
@FUZZ
def test_asset_markets_only_raise_parse_error(value: object) -> None:
    for raw in (json.dumps(value), json.dumps([value, {"market": MARKET, "asset_id": value}])):
        pairs = polymarket.asset_markets(raw)
        assert all(type(key) is str and type(market) is str for key, market in pairs.items())


REST_ROW = {"asset": YES, "side": "BUY", "price": 0.5, "size": 10, "timestamp": 1769000000, "transactionHash": "0xab"}
REST_MALFORMED: dict[str, str | bytes] = {
    "not json": b"<html>",
    "object": json.dumps({"error": "bad"}),
    "row not object": json.dumps([1]),
    "no tx hash": json.dumps([{**REST_ROW, "transactionHash": None}]),
    "other asset without tx hash": json.dumps([{**REST_ROW, "asset": NO, "transactionHash": ""}]),
    "no side": json.dumps([{**REST_ROW, "side": None}]),
    "bad side": json.dumps([{**REST_ROW, "side": "HOLD"}]),
    "zero price": json.dumps([{**REST_ROW, "price": 0}]),
    "negative size": json.dumps([{**REST_ROW, "size": -1}]),
    "too precise": json.dumps([{**REST_ROW, "price": 0.0000000000000000001}]),
    "huge": b'[{"asset":"1","side":"BUY","price":1e400,"size":1,"timestamp":1,"transactionHash":"0x1"}]',
    "nan": b'[{"asset":"1","side":"BUY","price":NaN,"size":1,"timestamp":1,"transactionHash":"0x1"}]',
    "ms timestamp out of range": json.dumps([{**REST_ROW, "timestamp": 10**13}]),
    "bool timestamp": json.dumps([{**REST_ROW, "timestamp": True}]),
    "asset numeric": json.dumps([{**REST_ROW, "asset": 5}]),
    "deep": b"[" * 100_000,
}


@pytest.mark.parametrize("body", list(REST_MALFORMED.values()), ids=list(REST_MALFORMED))
def test_rest_trades_malformed(body: str | bytes) -> None:
    with pytest.raises(ParseError):
        polymarket.parse_rest_trades(body, RECEIVED, f"POLYMARKET:{YES}")


def test_rest_trades_refuse_a_foreign_instrument() -> None:
    with pytest.raises(ParseError):
        polymarket.parse_rest_trades(REST_TRADES, RECEIVED, "BTC-USDT")


@given(JSON_VALUES)
@FUZZ
def test_rest_bodies_only_raise_parse_error(value: object) -> None:
    for body in (json.dumps(value), json.dumps([value])):
        try:
            trades = polymarket.parse_rest_trades(body, RECEIVED, f"POLYMARKET:{YES}")
        except ParseError:
            pass
        else:
            assert all(isinstance(trade, Trade) and trade.price > 0 for trade in trades)
        with contextlib.suppress(ParseError):
            polymarket.parse_rest_book(body, RECEIVED, f"POLYMARKET:{YES}")
        with contextlib.suppress(ParseError):
            polymarket.verify_rest_book_hash(body)


# --- REST: resnapshot and the book hash ---------------------------------------------------------

REST_BOOK = (FIXTURES / "rest_book.json").read_bytes()
SDK_VECTOR = (FIXTURES / "rest_book_sdk_vector.json").read_bytes()


def test_rest_book_request() -> None:
    assert polymarket.rest_book_request(f"POLYMARKET:{YES}") == ("https://clob.polymarket.com/book", {"token_id": YES})
    with pytest.raises(ValueError):
        polymarket.rest_book_request("KALSHI:ABC")


def test_parse_rest_book() -> None:
    book = polymarket.parse_rest_book(REST_BOOK, RECEIVED, f"POLYMARKET:{YES}")
    assert book == BookUpdate(
        venue="polymarket",
        instrument=f"POLYMARKET:{YES}",
        symbol=YES,
        kind="snapshot",
        bids=(
            Level(Decimal("0.01"), Decimal("25000")),
            Level(Decimal("0.45"), Decimal("1520.5")),
            Level(Decimal("0.47"), Decimal("88.123456")),
        ),
        asks=(
            Level(Decimal("0.99"), Decimal("10000")),
            Level(Decimal("0.52"), Decimal("300")),
            Level(Decimal("0.49"), Decimal("12.5")),
        ),
        ts_event=1_769_000_008_000_000_000,
        ts_recv=RECEIVED,
    )
    with pytest.raises(ParseError, match="asked for the book"):
        polymarket.parse_rest_book(REST_BOOK, RECEIVED, f"POLYMARKET:{NO}")
    with pytest.raises(ParseError, match="No orderbook exists"):
        polymarket.parse_rest_book(
            b'{"error":"No orderbook exists for the requested token id"}', RECEIVED, f"POLYMARKET:{YES}"
        )
    with pytest.raises(ParseError):
        polymarket.parse_rest_book(b"[]", RECEIVED, f"POLYMARKET:{YES}")


def test_book_hash_matches_the_venue_algorithm() -> None:
    # Polymarket's own client test vector.
    assert polymarket.book_hash(json.loads(SDK_VECTOR)) == "0458ea5755c9f73d64a14636fa5c36ed460ec394"
    assert polymarket.verify_rest_book_hash(SDK_VECTOR)
    assert polymarket.verify_rest_book_hash(REST_BOOK)
    # Any change of content, level order or number spelling changes the hash.
    edits: list[Callable[[dict[str, Any]], object]] = [
        lambda s: s.update(timestamp="123456790"),
        lambda s: s["bids"].reverse(),
        lambda s: s["asks"][0].update(price=".6"),
        lambda s: s.update(neg_risk=True),
        lambda s: s.update(last_trade_price="0.50"),
    ]
    for edit in edits:
        summary = json.loads(SDK_VECTOR)
        edit(summary)
        assert not polymarket.verify_rest_book_hash(json.dumps(summary))
    with pytest.raises(ValueError, match="min_order_size"):
        polymarket.book_hash({key: value for key, value in json.loads(SDK_VECTOR).items() if key != "min_order_size"})
    with pytest.raises(ParseError):
        polymarket.verify_rest_book_hash(b'{"bids":[]}')
    with pytest.raises(ParseError):
        polymarket.verify_rest_book_hash(json.dumps({**json.loads(SDK_VECTOR), "bids": [{"price": "0.3"}]}))


def test_ws_book_hash_cannot_be_verified() -> None:
    # The book message lacks min_order_size and neg_risk, so the venue's hash cannot be recomputed from it.
    frame = next(frame for frame in FRAMES if frame["name"] == "book_with_tick_size_and_last_trade_price")
    with pytest.raises(ValueError, match="min_order_size"):
        polymarket.book_hash(json.loads(frame["raw"]))


# --- mapping and subscriptions -----------------------------------------------------------------


def test_mapping_round_trips() -> None:
    assert polymarket.to_instrument(YES) == f"POLYMARKET:{YES}"
    assert polymarket.to_symbol(f"POLYMARKET:{YES}") == YES
    assert polymarket.to_symbol(polymarket.to_instrument("100")) == "100"


@pytest.mark.parametrize("asset_id", ["", "12 3", "1" * 129, "abc/def", "١٢"])
def test_bad_asset_ids_raise_parse_error(asset_id: str) -> None:
    with pytest.raises(ParseError):
        polymarket.to_instrument(asset_id)


@pytest.mark.parametrize(
    "instrument", ["BTC-USDT", f"KALSHI:{YES}", f"polymarket:{YES}", "POLYMARKET:", f"POLYMARKET: {YES}"]
)
def test_to_symbol_refuses_other_names(instrument: str) -> None:
    with pytest.raises(ValueError):
        polymarket.to_symbol(instrument)


def test_subscription_messages() -> None:
    assert json.loads(polymarket.subscribe_message([YES, NO])) == {
        "assets_ids": [YES, NO],
        "type": "market",
        "custom_feature_enabled": True,
    }
    assert (
        json.loads(polymarket.subscribe_message([YES], custom_feature_enabled=False))["custom_feature_enabled"] is False
    )
    assert json.loads(polymarket.update_subscription_message([NO], "unsubscribe")) == {
        "assets_ids": [NO],
        "operation": "unsubscribe",
        "custom_feature_enabled": True,
    }
    assert json.loads(polymarket.update_subscription_message([NO], "subscribe"))["operation"] == "subscribe"
    assert polymarket.PING_MESSAGE == "PING"
    for bad in ([], YES, ["1 2"], [str(n) for n in range(501)]):
        with pytest.raises(ValueError):
            polymarket.subscribe_message(bad)
    with pytest.raises(ValueError):
        polymarket.update_subscription_message([YES], "resubscribe")  # type: ignore[arg-type]

import json
from decimal import Decimal

import pytest

from streaming.errors import ParseError
from streaming.venues import binance

# Binance spot API docs, "Old trade lookup" (GET /api/v3/historicalTrades) response example
DOCS_BODY = (
    b'[{"id":28457,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012",'
    b'"time":1499865549590,"isBuyerMaker":true,"isBestMatch":true}]'
)


def test_request_pages_from_a_trade_id():
    assert binance.rest_trades_request("BTC-USDT", 102, 3) == (
        "/api/v3/historicalTrades",
        {"symbol": "BTCUSDT", "fromId": "102", "limit": "3"},
    )
    with pytest.raises(ValueError):
        binance.rest_trades_request("BTC-USDT", 1, 1001)


def test_docs_example_parses_exactly():
    (trade,) = binance.parse_rest_trades(DOCS_BODY, 7, "BNB-BTC")
    assert (trade.trade_id, trade.price, trade.size, trade.side) == (
        "28457",
        Decimal("4.00000100"),
        Decimal(12),
        "sell",
    )
    assert (trade.symbol, trade.ts_event, trade.ts_recv) == ("BNBBTC", 1_499_865_549_590_000_000, 7)


def test_a_repaired_trade_equals_the_streamed_one():
    streamed_frame = {
        "e": "trade",
        "E": 1499865549590,
        "s": "BNBBTC",
        "t": 28457,
        "p": "4.00000100",
        "q": "12.00000000",
        "T": 1499865549590,
        "m": True,
        "M": True,
    }
    (streamed,) = binance.parse(json.dumps(streamed_frame), 7).records
    assert binance.parse_rest_trades(DOCS_BODY, 7, "BNB-BTC") == [streamed]


@pytest.mark.parametrize(
    "body",
    [
        b'{"code":-1121,"msg":"Invalid symbol."}',
        b"[1]",
        b'[{"id":1}]',
        b"not json",
        b'[{"id":1,"price":"0","qty":"1","time":1,"isBuyerMaker":true}]',
    ],
)
def test_bad_bodies_are_parse_errors(body):
    with pytest.raises(ParseError):
        binance.parse_rest_trades(body, 1, "BTC-USDT")

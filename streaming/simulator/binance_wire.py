"""Render simulated trades exactly as Binance spot sends them.

The payloads follow :mod:`streaming.venues.binance` (which cites the Binance documentation):
prices and quantities are strings with 8 fractional digits, times are integers in milliseconds
(or microseconds for connections opened with ``timeUnit=MICROSECOND``), and ``m`` ("is the buyer
the market maker?") is true exactly when the taker sold. The simulator has no matching engine, so
every aggregate trade holds one fill: ``f == l == t``.

Rendering uses plain string formatting rather than a JSON encoder: every interpolated value is an
integer, a boolean literal, a decimal text, a side, or a canonical instrument or symbol (letters,
digits and ``-``), none of which needs escaping.
"""

from __future__ import annotations

import functools

from streaming.simulator.market import SimTrade
from streaming.venues import binance
from streaming.venues.binance import Channel


@functools.lru_cache(maxsize=1024)
def symbol_of(instrument: str) -> str:
    """The Binance symbol of a canonical instrument (``"BTC-USDT"`` -> ``"BTCUSDT"``)."""
    return binance.to_symbol(instrument)


def stream_of(instrument: str, channel: Channel) -> str:
    """The Binance stream name of an instrument's trade channel (``"btcusdt@trade"``)."""
    return f"{symbol_of(instrument).lower()}@{channel}"


def rest_trade(trade: SimTrade) -> dict[str, object]:
    """A trade as Binance's REST ``historicalTrades`` lists it."""
    return {
        "id": trade.trade_id,
        "price": trade.price_text,
        "qty": trade.size_text,
        "quoteQty": format(trade.price * trade.size, "f"),
        "time": trade.ts_ms,
        "isBuyerMaker": trade.side == "sell",
        "isBestMatch": True,
    }


def payload(trade: SimTrade, channel: Channel, *, micros: bool = False) -> str:
    """The bare (raw-stream) payload of a trade.

    Args:
        trade: The simulated trade.
        channel: ``"trade"`` or ``"aggTrade"``.
        micros: Render times in microseconds (``timeUnit=MICROSECOND``) instead of milliseconds.

    Returns:
        The JSON text of the payload.
    """
    ts = trade.ts_ms * 1_000 if micros else trade.ts_ms
    maker = "true" if trade.side == "sell" else "false"
    symbol = symbol_of(trade.instrument)
    if channel == "trade":
        return (
            f'{{"e":"trade","E":{ts},"s":"{symbol}","t":{trade.trade_id},"p":"{trade.price_text}",'
            f'"q":"{trade.size_text}","T":{ts},"m":{maker},"M":true}}'
        )
    return (
        f'{{"e":"aggTrade","E":{ts},"s":"{symbol}","a":{trade.agg_id},"p":"{trade.price_text}",'
        f'"q":"{trade.size_text}","f":{trade.trade_id},"l":{trade.trade_id},"T":{ts},"m":{maker},"M":true}}'
    )


def wrap(stream: str, data: str) -> str:
    """Wrap a payload as a combined-stream frame: ``{"stream": ..., "data": ...}``."""
    return f'{{"stream":"{stream}","data":{data}}}'


def combined_frame(trade: SimTrade, channel: Channel, *, micros: bool = False) -> str:
    """The combined-stream frame of a trade (the payload wrapped with its stream name)."""
    return wrap(stream_of(trade.instrument, channel), payload(trade, channel, micros=micros))


def trade_id_of(trade: SimTrade, channel: Channel) -> str:
    """The trade id that :func:`streaming.venues.binance.parse` reads from the trade's frame."""
    if channel == "trade":
        return str(trade.trade_id)
    return f"{trade.trade_id}-{trade.trade_id}"

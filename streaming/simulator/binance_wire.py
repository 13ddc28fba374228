"""Render simulated trades and books exactly as Binance spot sends them.

The payloads follow :mod:`streaming.venues.binance` (which cites the Binance documentation):
prices and quantities are strings with 8 fractional digits, times are integers in milliseconds
(or microseconds for connections opened with ``timeUnit=MICROSECOND``), and ``m`` ("is the buyer
the market maker?") is true exactly when the taker sold. The simulator has no matching engine, so
every aggregate trade holds one fill: ``f == l == t``.

Book frames follow the same module: ``depthUpdate`` diffs (``E`` in milliseconds or microseconds,
``U``/``u`` update ids, ``b``/``a`` lists of ``[price, quantity]`` texts), ``bookTicker`` frames (``u``,
``s``, ``b``, ``B``, ``a``, ``A``; no event time, as on Binance) and the REST ``/api/v3/depth`` body
(``lastUpdateId``, ``bids``, ``asks``).

Rendering uses plain string formatting rather than a JSON encoder: every interpolated value is an
integer, a boolean literal, a decimal text, a side, or a canonical instrument or symbol (letters,
digits and ``-``), none of which needs escaping.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from streaming.simulator.books import BookDiff, BookSnapshot, text
from streaming.simulator.market import PRICE_DECIMALS, SimTrade
from streaming.venues import binance
from streaming.venues.binance import BookChannel, Channel

_UNIT = 10**PRICE_DECIMALS


@functools.lru_cache(maxsize=1024)
def symbol_of(instrument: str) -> str:
    """The Binance symbol of a canonical instrument (``"BTC-USDT"`` -> ``"BTCUSDT"``)."""
    return binance.to_symbol(instrument)


def stream_of(instrument: str, channel: Channel | BookChannel) -> str:
    """The Binance stream name of an instrument's channel (``"btcusdt@trade"``, ``"btcusdt@depth@100ms"``)."""
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
    return trade_frame(trade, channel, micros=micros, combined=False)


def wrap(stream: str, data: str) -> str:
    """Wrap a payload as a combined-stream frame: ``{"stream": ..., "data": ...}``."""
    return f'{{"stream":"{stream}","data":{data}}}'


def combined_frame(trade: SimTrade, channel: Channel, *, micros: bool = False) -> str:
    """The combined-stream frame of a trade (the payload wrapped with its stream name)."""
    return trade_frame(trade, channel, micros=micros, combined=True)


def trade_frame(trade: SimTrade, channel: Channel, *, micros: bool, combined: bool) -> str:
    """The frame of a trade: :func:`combined_frame` when ``combined``, else :func:`payload`.

    Built in one piece: ``wrap(stream_of(...), payload(...))`` without the intermediate payload text.
    """
    head, tail = (_combined_head(trade.instrument, channel), "}") if combined else ("", "")
    ts = trade.ts_ms * 1_000 if micros else trade.ts_ms
    maker = "true" if trade.side == "sell" else "false"
    symbol = symbol_of(trade.instrument)
    if channel == "trade":
        return (
            f'{head}{{"e":"trade","E":{ts},"s":"{symbol}","t":{trade.trade_id},"p":"{trade.price_text}",'
            f'"q":"{trade.size_text}","T":{ts},"m":{maker},"M":true}}{tail}'
        )
    return (
        f'{head}{{"e":"aggTrade","E":{ts},"s":"{symbol}","a":{trade.agg_id},"p":"{trade.price_text}",'
        f'"q":"{trade.size_text}","f":{trade.trade_id},"l":{trade.trade_id},"T":{ts},"m":{maker},"M":true}}{tail}'
    )


@functools.lru_cache(maxsize=1024)
def _combined_head(instrument: str, channel: Channel) -> str:
    """What precedes a payload in a combined-stream frame of the instrument's channel."""
    return f'{{"stream":"{stream_of(instrument, channel)}","data":'


def trade_id_of(trade: SimTrade, channel: Channel) -> str:
    """The trade id that :func:`streaming.venues.binance.parse` reads from the trade's frame."""
    if channel == "trade":
        return str(trade.trade_id)
    return f"{trade.trade_id}-{trade.trade_id}"


def _levels(levels: Iterable[tuple[int, int]]) -> str:
    # text(price) and text(size), without two calls per level
    return ",".join(
        f'["{price // _UNIT}.{price % _UNIT:08d}","{size // _UNIT}.{size % _UNIT:08d}"]' for price, size in levels
    )


def depth_payload(instrument: str, diff: BookDiff, event_ms: int, *, micros: bool = False) -> str:
    """The bare ``depthUpdate`` payload of a book diff.

    Args:
        instrument: The canonical instrument.
        diff: The changes (``U`` = ``first_id``, ``u`` = ``last_id``).
        event_ms: The event time, epoch milliseconds.
        micros: Render the time in microseconds (``timeUnit=MICROSECOND``).

    Returns:
        The JSON text of the payload.
    """
    ts = event_ms * 1_000 if micros else event_ms
    return (
        f'{{"e":"depthUpdate","E":{ts},"s":"{symbol_of(instrument)}","U":{diff.first_id},"u":{diff.last_id},'
        f'"b":[{_levels(diff.bids)}],"a":[{_levels(diff.asks)}]}}'
    )


def book_ticker_payload(instrument: str, update_id: int, bid: tuple[int, int], ask: tuple[int, int]) -> str:
    """The bare ``bookTicker`` payload: best bid and ask ``(price, size)`` in units of 1e-8 at an update id."""
    return (
        f'{{"u":{update_id},"s":"{symbol_of(instrument)}","b":"{text(bid[0])}","B":"{text(bid[1])}",'
        f'"a":"{text(ask[0])}","A":"{text(ask[1])}"}}'
    )


def rest_depth(snapshot: BookSnapshot) -> str:
    """The REST ``/api/v3/depth`` body of a book snapshot."""
    return f'{{"lastUpdateId":{snapshot.last_id},"bids":[{_levels(snapshot.bids)}],"asks":[{_levels(snapshot.asks)}]}}'

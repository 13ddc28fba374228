"""The simulated Kalshi venue: WebSocket v2 with a signed handshake, trades, books, tickers, lifecycle, REST history.

Frames are rendered by :mod:`streaming.simulator.kalshi_wire`. Endpoints, under ``/kalshi``, as on
``api.elections.kalshi.com`` (sources: https://docs.kalshi.com/getting_started/quick_start_websockets,
https://docs.kalshi.com/getting_started/api_keys, https://docs.kalshi.com/asyncapi.yaml,
https://docs.kalshi.com/api-reference/market/get-trades):

* ``/trade-api/ws/v2`` -- the WebSocket. The handshake must be signed: ``KALSHI-ACCESS-KEY`` (a
  trusted key id), ``KALSHI-ACCESS-TIMESTAMP`` (epoch ms, within :data:`MAX_CLOCK_SKEW_MS` of the
  simulator's clock) and ``KALSHI-ACCESS-SIGNATURE`` (RSA-PSS over ``timestamp + "GET" + path``,
  checked with :func:`streaming.venues.kalshi.verify_signature`); anything else is refused with HTTP
  401. The trusted key is the one :func:`streaming.feeds.kalshi_keys.resolve_key` resolves from the
  same settings (the development key unless a Kalshi key is configured).
* ``GET /trade-api/v2/markets/trades?ticker=&limit=&cursor=&min_ts=&max_ts=`` -- the public trade
  history (no signature): every generated trade, the ones the wire lost too, newest first,
  ``limit`` 1 to 1000 (default 100), cursor pagination, ``min_ts``/``max_ts`` in epoch seconds
  (exclusive). Bad parameters get HTTP 400 with a Kalshi error document.
* Any other path is refused with HTTP 404.

**Commands** (``{"id": n, "cmd": ..., "params": {...}}``):

* ``subscribe`` with ``channels`` and optionally ``market_tickers`` (or ``market_ticker``); no market
  filter means every market (``market_lifecycle_v2`` always covers every market: Kalshi supports no
  filter there). Each channel gets its own ``sid`` (numbered from 1 per connection) and a
  ``subscribed`` reply; an ``orderbook_delta`` subscription then gets one ``orderbook_snapshot`` per
  market. ``trade``, ``orderbook_delta``, ``ticker_v2`` and ``market_lifecycle_v2`` carry data;
  ``ticker`` and ``multivariate_market_lifecycle`` are acknowledged and stay quiet.
* ``unsubscribe`` with ``sids``: one ``unsubscribed`` reply per sid, carrying that sid's next ``seq``;
  nothing more is sent on those sids. A book is resubscribed this way: unsubscribe its sid, subscribe
  again: a new sid, whose ``orderbook_snapshot`` is its ``seq`` 1.
* ``update_subscription`` with one sid, ``action`` ``add_markets``/``delete_markets`` and
  ``market_tickers``: an ``ok`` reply carrying the sid's next ``seq`` and the markets now covered
  (followed, on an ``orderbook_delta`` sid, by the snapshots of the markets added).
* ``list_subscriptions``: an ``ok`` reply listing ``{channel, sid}``.
* Bad commands get Kalshi's error frames: 1 unparseable, 2 no params, 3 no channels, 4 no sids,
  5 unknown command, 6 market already subscribed on the channel, 7 unknown sid, 8 unknown channel,
  11 invalid parameter, 12 not exactly one sid, 13 unsupported action, 14 no market, 15 no action,
  16 unknown market.

**Sequence numbers.** ``seq`` counts every message of a subscription, per connection, from 1,
across all markets the sid covers (trades, book snapshots and deltas, lifecycle messages, and the
``unsubscribed``/``ok`` replies of that sid; tickers carry none).
The exchange numbers a trade message when it publishes it, i.e. when the trade happens: a trade the
wire then loses (scenario ``skip`` or a silence) leaves a hole in ``seq`` that the next message
reveals; a duplicated trade repeats its ``seq``; a reordered one arrives with its (older) ``seq``
after the next.

**Books** (:mod:`streaming.simulator.kalshi_book`): every market has a simulated book of YES and NO
bids in cents that every generated trade changes (the skipped ones too: the book is the venue's). Each
level change is one ``orderbook_delta`` with its signed ``delta``, sent to every ``orderbook_delta`` sid
covering the market at the end of the emission tick (10 ms) in which it happened. Snapshots, deltas and
everything else on a connection are written in one ordered stream, so a subscriber's first delta
continues its snapshot. When ``sim_max_trades`` is reached the books stop changing; their last changes
go out in that tick. Book fault: with ``sim_book_drop_every`` = N, every Nth delta of each market
(counted while someone subscribes its book) is numbered in every sid covering it but never sent, a
``seq`` hole; decided here: a drop that falls on the market's last change of the tick is postponed to
its next change, so that a later delta of the same tick always reveals the hole, and the last tick
drops nothing. The silence fault mutes books, tickers and lifecycle messages too (numbered, not sent).

**Tickers** (``ticker_v2``, no ``seq``): at the end of every tick in which a market traded or its quote
changed, its last price, best YES bid and ask and the contracts traded since the previous message.

**Lifecycle** (``market_lifecycle_v2`` subscribers): when a market first trades it opens: an
``event_lifecycle`` for its event (once per event), then its ``created`` event; when
``sim_max_trades`` is reached every market that opened is ``determined`` (``yes`` if its last price
is at least 50 cents, else ``no``) and ``settled``. Decided here: the books are left as they were at the
close (the exchange would cancel the resting orders), so that a capture can be compared with them.

**Heartbeats.** Every :attr:`KalshiSim.heartbeat_seconds` (10 s, as Kalshi) each connection gets a
WebSocket Ping frame with body ``heartbeat``; clients answer with a Pong (the websockets library does).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import ConcurrencyError, ConnectionClosed
from websockets.http11 import Response
from websockets.protocol import State

from streaming.feeds.kalshi_keys import public_key_pem, resolve_key
from streaming.simulator import kalshi_wire
from streaming.simulator.kalshi_book import KalshiBook, LevelChange, cents_of, count_of
from streaming.simulator.market import Market, SimTrade, profile_of
from streaming.simulator.outbox import broadcast
from streaming.simulator.venue import Client, Refusal, Reply, Subscription, TruthFields, VenueSim, http_json
from streaming.venues import kalshi

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW_MS = 30_000
"""A handshake whose ``KALSHI-ACCESS-TIMESTAMP`` is further than this from the clock is refused (stale)."""

TRADE = "trade"
"""The channel of trades."""

BOOK = "orderbook_delta"
"""The channel of order books: ``orderbook_snapshot`` then ``orderbook_delta`` messages."""

TICKER = "ticker_v2"
"""The ticker channel that carries data (``ticker`` stays quiet)."""

LIFECYCLE = "market_lifecycle_v2"
"""The channel of market (``market_lifecycle_v2``) and event (``event_lifecycle``) lifecycle messages."""

DEFAULT_REST_LIMIT = 100
"""Page size of ``GET /markets/trades`` when ``limit`` is not given."""

_UPDATE_ACTIONS = ("add_markets", "delete_markets")


def check_handshake(
    path: str, headers: Mapping[str, str], trusted: Mapping[str, bytes], now_ms: int, max_skew_ms: int
) -> str | None:
    """Why a Kalshi WebSocket handshake is not authenticated, or ``None`` when it is.

    Args:
        path: The request path (a query string is not signed).
        headers: The request headers.
        trusted: Public keys (PEM) by API key id.
        now_ms: The current time, epoch milliseconds.
        max_skew_ms: The largest accepted distance between the signed timestamp and ``now_ms``.

    Returns:
        The reason for refusing (for the 401 body), or ``None``.
    """
    key_id = headers.get("KALSHI-ACCESS-KEY")
    signature = headers.get("KALSHI-ACCESS-SIGNATURE")
    stamp = headers.get("KALSHI-ACCESS-TIMESTAMP")
    if not key_id or not signature or not stamp:
        return "missing KALSHI-ACCESS-KEY, KALSHI-ACCESS-SIGNATURE or KALSHI-ACCESS-TIMESTAMP header"
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 16 or int(stamp) <= 0:
        return "KALSHI-ACCESS-TIMESTAMP is not epoch milliseconds"
    timestamp_ms = int(stamp)
    if abs(now_ms - timestamp_ms) > max_skew_ms:
        return f"stale KALSHI-ACCESS-TIMESTAMP: {(now_ms - timestamp_ms) / 1000:+.1f} s from the server clock"
    public_key = trusted.get(key_id)
    if public_key is None:
        return "unknown API key"
    if not kalshi.verify_signature(public_key, signature, timestamp_ms, "GET", path):
        return "invalid signature"
    return None


@dataclasses.dataclass(eq=False, slots=True)
class _Sid:
    """One subscription of a connection."""

    sid: int
    channel: str
    instruments: dict[str, None]
    seq: int = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


@dataclasses.dataclass(slots=True)
class _Connection:
    """What a Kalshi connection keeps: its subscriptions and the numbers of trades being delivered."""

    next_sid: int = 1
    sids: dict[int, _Sid] = dataclasses.field(default_factory=dict)
    trade_sid: dict[str, _Sid] = dataclasses.field(default_factory=dict)
    """The ``trade`` subscription covering each instrument."""
    retired: dict[str, _Sid] = dataclasses.field(default_factory=dict)
    """The last ``trade`` subscription that covered an instrument (for a trade in flight at unsubscribe)."""
    numbered: dict[tuple[str, int], tuple[int, int]] = dataclasses.field(default_factory=dict)
    """``(sid, seq)`` given to each trade generated in the current tick, by ``(instrument, trade id)``."""


class _Command(Exception):
    """A bad command: answered with an error frame."""

    def __init__(self, code: int, detail: str | None = None) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


class _PublishingMarket(Market):
    """The tape, telling the venue about every trade as it happens (so that it can number it)."""

    def __init__(self, seed: int, instruments: Sequence[str], published: Callable[[SimTrade], None]) -> None:
        super().__init__(seed, instruments)
        self._published = published

    def next_trade(self, instrument: str, ts_ms: int) -> SimTrade:
        trade = super().next_trade(instrument, ts_ms)
        self._published(trade)
        return trade


class KalshiSim(VenueSim):
    """Kalshi: signed WebSocket v2 handshake; trades, books, tickers, lifecycle with per-sid ``seq``; REST trades."""

    venue = kalshi.VENUE
    trade_channels = (TRADE,)
    heartbeat_seconds: float | None = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.market = _PublishingMarket(self.settings.sim_seed, self.instruments, self._published)
        key_id, private_pem = resolve_key(self.settings)
        self.trusted_keys: dict[str, bytes] = {key_id: public_key_pem(private_pem)}
        """Public keys (PEM) by API key id: whose signed handshakes are accepted."""
        self._instruments_of: dict[str, str] = {kalshi.to_symbol(i): i for i in self.instruments}
        self.heartbeats_sent = 0
        """Heartbeat Ping frames sent."""
        self.books: dict[str, KalshiBook] = {
            i: KalshiBook(self.settings.sim_seed, i, cents_of(profile_of(i).start_price)) for i in self.instruments
        }
        """The simulated book of every market."""
        self.book_drop_every: int | None = self.settings.sim_book_drop_every
        """Every this many deltas of each market, one is never sent (``None``: none)."""
        self.snapshots_sent = 0
        """``orderbook_snapshot`` messages sent (one per sid and market)."""
        self.deltas_sent = 0
        """Level changes sent to at least one subscriber (each counted once)."""
        self.deltas_dropped = 0
        """Level changes the book fault never sent (each counted once, whatever the number of sids)."""
        self.tickers_sent = 0
        """``ticker_v2`` updates sent to at least one subscriber (each counted once)."""
        self.lifecycle_sent = 0
        """Lifecycle messages published (each counted once)."""
        self.last_price: dict[str, int] = {}
        """The last trade's YES price of every market that traded, in cents."""
        self._changes: dict[str, list[LevelChange]] = {}
        self._delta_counts: dict[str, int] = {}
        self._postponed: set[str] = set()
        self._volume: dict[str, int] = {}
        self._quotes: dict[str, tuple[int, int, int]] = {}
        self._opened: dict[str, None] = {}
        self._events: set[str] = set()
        self._closed = False
        self._muted = False

    # --- handshake ---------------------------------------------------------------------------

    def is_rest(self, path: str) -> bool:  # noqa: D102 - see VenueSim
        return path == kalshi.REST_TRADES_PATH

    def accept(self, path: str, headers: Headers) -> None:  # noqa: D102 - see VenueSim
        route = urlsplit(path).path
        if route != kalshi.WS_PATH:
            raise Refusal(HTTPStatus.NOT_FOUND, f"no such endpoint: /{self.venue}{route}")
        reason = check_handshake(route, headers, self.trusted_keys, time.time_ns() // 1_000_000, MAX_CLOCK_SKEW_MS)
        if reason is not None:
            log.warning("kalshi simulator: handshake refused: %s", reason)
            raise Refusal(HTTPStatus.UNAUTHORIZED, kalshi_wire.rest_error("authentication_error", reason))

    def open(self, client: Client) -> list[Subscription]:  # noqa: D102 - see VenueSim
        client.state["kalshi"] = _Connection()
        return []

    # --- REST --------------------------------------------------------------------------------

    def rest(self, path: str, query: dict[str, list[str]]) -> Response:
        """``GET /trade-api/v2/markets/trades``: every generated trade, sent or not, newest first."""
        try:
            limit = _integer(query, "limit")
            if limit is None:
                limit = DEFAULT_REST_LIMIT
            elif not 1 <= limit <= kalshi.REST_PAGE_LIMIT:
                raise ValueError(f"limit must be from 1 to {kalshi.REST_PAGE_LIMIT}, not {limit}")
            min_ts = _integer(query, "min_ts")
            max_ts = _integer(query, "max_ts")
            cursor = _first(query, "cursor")
            before = kalshi_wire.decode_cursor(cursor) if cursor else None
        except ValueError as error:
            raise Refusal(HTTPStatus.BAD_REQUEST, kalshi_wire.rest_error("bad_request", str(error))) from None
        ticker = _first(query, "ticker")
        if ticker:
            instrument = self._instruments_of.get(ticker)
            instruments = [instrument] if instrument is not None else []
        else:
            instruments = list(self.instruments)
        page, after = kalshi_wire.history_page(
            (self.trades_from(i) for i in instruments), before=before, min_ts=min_ts, max_ts=max_ts, limit=limit
        )
        return http_json(HTTPStatus.OK, kalshi_wire.rest_page(page, after))

    # --- commands ----------------------------------------------------------------------------

    def on_message(self, client: Client, message: str | bytes) -> Reply:  # noqa: D102 - see VenueSim
        request_id: int | None = None
        try:
            command = _command(message)
            request_id = command["id"]
            cmd = command.get("cmd")
            if cmd == "subscribe":
                return self._cmd_subscribe(client, request_id, _params(command))
            if cmd == "unsubscribe":
                return self._cmd_unsubscribe(client, request_id, _params(command))
            if cmd == "update_subscription":
                return self._cmd_update(client, request_id, _params(command))
            if cmd == "list_subscriptions":
                listed = [(s.channel, s.sid) for s in _connection(client).sids.values()]
                return Reply(frames=(kalshi_wire.subscription_list(request_id, listed),))
            raise _Command(5, f"{cmd!r}" if isinstance(cmd, str) else None)
        except _Command as bad:
            return Reply(frames=(kalshi_wire.error(request_id, bad.code, bad.detail),))

    def _cmd_subscribe(self, client: Client, request_id: int, params: dict[str, Any]) -> Reply:
        connection = _connection(client)
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            raise _Command(3)
        for channel in channels:
            if channel not in kalshi.CHANNELS:
                raise _Command(8, json.dumps(channel))
        instruments = self._markets(params, required=False) or list(self.instruments)
        if TRADE in channels:
            taken = [kalshi.to_symbol(i) for i in instruments if i in connection.trade_sid]
            if taken:
                raise _Command(6, f"trade already subscribed for {', '.join(taken)}")
        frames = []
        for channel in dict.fromkeys(channels):
            covered = list(self.instruments) if channel == LIFECYCLE else instruments
            sid = _Sid(connection.next_sid, channel, dict.fromkeys(covered))
            connection.next_sid += 1
            connection.sids[sid.sid] = sid
            if channel == TRADE:
                connection.trade_sid.update(dict.fromkeys(instruments, sid))
            frames.append(kalshi_wire.subscribed(request_id, channel, sid.sid))
            if channel == BOOK:
                frames += self._snapshots(sid, covered)
        subscribe = [(TRADE, i) for i in instruments] if TRADE in channels else []
        if BOOK in channels:
            _write(client, frames)  # at once: no tick can send a delta between a snapshot and its reply
            return Reply(subscribe=subscribe)
        return Reply(frames=frames, subscribe=subscribe)

    def _cmd_unsubscribe(self, client: Client, request_id: int, params: dict[str, Any]) -> Reply:
        connection = _connection(client)
        sids = params.get("sids")
        if not isinstance(sids, list) or not sids:
            raise _Command(4)
        chosen = [connection.sids.get(sid) if _is_int(sid) else None for sid in sids]
        if None in chosen:
            raise _Command(7, ", ".join(str(sid) for sid, found in zip(sids, chosen, strict=True) if found is None))
        frames = []
        removed: list[Subscription] = []
        for sid in dict.fromkeys(s for s in chosen if s is not None):
            del connection.sids[sid.sid]
            if sid.channel == TRADE:
                removed += self._release(connection, sid, list(sid.instruments))
            frames.append(kalshi_wire.unsubscribed(request_id, sid.sid, sid.next_seq()))
        return Reply(frames=frames, unsubscribe=removed)

    def _cmd_update(self, client: Client, request_id: int, params: dict[str, Any]) -> Reply:
        connection = _connection(client)
        sids = params.get("sids", [params["sid"]] if "sid" in params else None)
        if not isinstance(sids, list) or len(sids) != 1:
            raise _Command(12)
        sid = connection.sids.get(sids[0]) if _is_int(sids[0]) else None
        action = params.get("action")
        if action is None:
            raise _Command(15)
        if action not in _UPDATE_ACTIONS:
            raise _Command(13, json.dumps(action))
        instruments = self._markets(params, required=True)
        if sid is None:
            raise _Command(7, str(sids[0]))
        subscribe: list[Subscription] = []
        unsubscribe: list[Subscription] = []
        added: list[str] = []
        if action == "add_markets":
            if sid.channel == TRADE:
                taken = [i for i in instruments if i in connection.trade_sid and connection.trade_sid[i] is not sid]
                if taken:
                    raise _Command(6, f"trade already subscribed for {', '.join(map(kalshi.to_symbol, taken))}")
            added = [i for i in instruments if i not in sid.instruments]
            if sid.channel == TRADE:
                connection.trade_sid.update(dict.fromkeys(added, sid))
                subscribe = [(TRADE, i) for i in added]
            sid.instruments.update(dict.fromkeys(instruments))
        else:
            present = [i for i in instruments if i in sid.instruments]
            for instrument in present:
                del sid.instruments[instrument]
            if sid.channel == TRADE:
                unsubscribe = self._release(connection, sid, present)
        tickers = [kalshi.to_symbol(i) for i in sid.instruments]
        frames = [kalshi_wire.updated(request_id, sid.sid, sid.next_seq(), tickers)]
        if sid.channel == BOOK and added:
            _write(client, [*frames, *self._snapshots(sid, added)])  # at once, as for a subscription
            return Reply(subscribe=subscribe, unsubscribe=unsubscribe)
        return Reply(frames=frames, subscribe=subscribe, unsubscribe=unsubscribe)

    @staticmethod
    def _release(connection: _Connection, sid: _Sid, instruments: Iterable[str]) -> list[Subscription]:
        released = []
        for instrument in instruments:
            if connection.trade_sid.get(instrument) is sid:
                del connection.trade_sid[instrument]
                connection.retired[instrument] = sid
                released.append((TRADE, instrument))
        return released

    def _markets(self, params: dict[str, Any], *, required: bool) -> list[str]:
        """The instruments a command names (``market_tickers`` or ``market_ticker``), checked."""
        tickers = params.get("market_tickers")
        if tickers is None and "market_ticker" in params:
            tickers = [params["market_ticker"]]
        if tickers is None or tickers == []:
            if required:
                raise _Command(14)
            return []
        if not isinstance(tickers, list) or not all(isinstance(t, str) for t in tickers):
            raise _Command(11, "market_tickers must be an array of strings")
        unknown = [t for t in tickers if t not in self._instruments_of]
        if unknown:
            raise _Command(16, ", ".join(unknown))
        return list(dict.fromkeys(self._instruments_of[t] for t in tickers))

    # --- frames ------------------------------------------------------------------------------

    def _snapshots(self, sid: _Sid, instruments: Iterable[str]) -> list[str]:
        """The ``orderbook_snapshot`` of each market on a book subscription, each taking the sid's next ``seq``."""
        frames = []
        for instrument in instruments:
            frames.append(
                kalshi_wire.snapshot_frame(instrument, self.books[instrument].snapshot(), sid.sid, sid.next_seq())
            )
            self.snapshots_sent += 1
        return frames

    def _published(self, trade: SimTrade) -> None:
        """A trade happened: open its market if it is the first, number it, change the market's book."""
        instrument = trade.instrument
        if instrument not in self._opened:
            self._open(instrument, trade.ts_ms // 1000)
        self._number(trade)
        self._changes.setdefault(instrument, []).extend(self.books[instrument].on_trade(trade))
        self.last_price[instrument] = cents_of(trade.price_text)
        self._volume[instrument] = self._volume.get(instrument, 0) + count_of(trade.size_text)

    def _number(self, trade: SimTrade) -> None:
        """Give a trade the next ``seq`` of each subscription it is published on, as it happens."""
        for client in self.subscribers(TRADE, trade.instrument):
            connection = _connection(client)
            sid = connection.trade_sid.get(trade.instrument)
            if sid is not None:
                connection.numbered[(trade.instrument, trade.trade_id)] = (sid.sid, sid.next_seq())

    def tick(self, now: float, wall_ms: int) -> None:
        """Emit the trades that are due (see :meth:`VenueSim.tick`), then the book deltas and tickers.

        Every trade generated in a tick is delivered in that tick or never (lost); the numbers of the
        lost ones are forgotten first. The tick that reaches ``sim_max_trades`` sends every change (no
        fault) and closes the markets.
        """
        for client in self.clients:
            _connection(client).numbered.clear()
        self._muted = self.silent(now)
        super().tick(now, wall_ms)
        final = self.exhausted
        if final:
            self._muted = False
        self._send_deltas(wall_ms, final=final)
        self._send_tickers(wall_ms // 1000)
        if final and not self._closed:
            self._close(wall_ms // 1000)

    def _targets(self, channel: str, instrument: str | None) -> list[tuple[Client, _Sid]]:
        """The open connections' subscriptions of a channel covering a market (``None``: any)."""
        return [
            (client, sid)
            for client in self.clients
            if client.connection.state is State.OPEN
            for sid in _connection(client).sids.values()
            if sid.channel == channel and (instrument is None or instrument in sid.instruments)
        ]

    def _send_deltas(self, wall_ms: int, *, final: bool) -> None:
        """Send each market's level changes of this tick, one ``orderbook_delta`` per change and sid."""
        changes, self._changes = self._changes, {}
        for instrument, batch in changes.items():
            targets = self._targets(BOOK, instrument)
            if not targets:
                continue
            for index, change in enumerate(batch):
                dropped = self._drop(instrument, last=index == len(batch) - 1, final=final)
                for client, sid in targets:
                    frame = kalshi_wire.delta_frame(instrument, change, sid.sid, sid.next_seq(), wall_ms)
                    if not dropped and not self._muted:
                        broadcast([client.connection], frame)
                if dropped:
                    self.deltas_dropped += 1
                elif not self._muted:
                    self.deltas_sent += 1

    def _drop(self, instrument: str, *, last: bool, final: bool) -> bool:
        """Whether the book fault drops this change of a market (never its last of the tick, nor at the end)."""
        if final or not self.book_drop_every:
            return False
        count = self._delta_counts[instrument] = self._delta_counts.get(instrument, 0) + 1
        if count % self.book_drop_every and instrument not in self._postponed:
            return False
        if last:  # nothing after it in this tick would reveal the hole: drop the next change instead
            self._postponed.add(instrument)
            return False
        self._postponed.discard(instrument)
        return True

    def _send_tickers(self, ts: int) -> None:
        """Send a ``ticker_v2`` for every market that traded or whose quote changed since its last one."""
        if self._muted:
            return
        for instrument, price in self.last_price.items():
            book = self.books[instrument]
            bid, ask = book.best_bid(), book.best_ask()
            quote = (price, bid[0] if bid is not None else 0, ask[0] if ask is not None else 0)
            volume = self._volume.get(instrument, 0)
            if quote == self._quotes.get(instrument) and not volume:
                continue
            self._quotes[instrument] = quote
            self._volume[instrument] = 0
            targets = self._targets(TICKER, instrument)
            for client, sid in targets:
                broadcast([client.connection], kalshi_wire.ticker_v2_frame(instrument, *quote, volume, ts, sid.sid))
            self.tickers_sent += bool(targets)

    def _publish_lifecycle(self, message_type: str, message: dict[str, Any]) -> None:
        """Send a lifecycle message on every ``market_lifecycle_v2`` subscription (each takes its next ``seq``)."""
        for client, sid in self._targets(LIFECYCLE, None):
            frame = kalshi_wire.lifecycle_frame(message_type, message, sid.sid, sid.next_seq())
            if not self._muted:
                broadcast([client.connection], frame)
        self.lifecycle_sent += 1

    def _open(self, instrument: str, ts: int) -> None:
        """A market's first trade: its event is created (once per event), then the market."""
        event = kalshi_wire.event_ticker_of(instrument)
        if event not in self._events:
            self._events.add(event)
            self._publish_lifecycle("event_lifecycle", kalshi_wire.event_created_message(event))
        self._opened[instrument] = None
        self._publish_lifecycle(LIFECYCLE, kalshi_wire.market_created_message(instrument, ts))

    def _close(self, ts: int) -> None:
        """``sim_max_trades`` reached: every market that opened is determined, then settled."""
        self._closed = True
        for instrument in self._opened:
            result = "yes" if self.last_price[instrument] >= 50 else "no"
            self._publish_lifecycle(LIFECYCLE, kalshi_wire.market_determined_message(instrument, result, ts))
            self._publish_lifecycle(LIFECYCLE, kalshi_wire.market_settled_message(instrument, ts))

    def render(self, trade: SimTrade, channel: str, client: Client) -> str:  # noqa: D102 - see VenueSim
        connection = _connection(client)
        numbered = connection.numbered.pop((trade.instrument, trade.trade_id), None)
        if numbered is None:  # not numbered on publication: number it now
            sid = connection.trade_sid.get(trade.instrument) or connection.retired[trade.instrument]
            numbered = (sid.sid, sid.next_seq())
        return kalshi_wire.trade_frame(trade, *numbered)

    def truth(self, trade: SimTrade, channel: str) -> TruthFields:  # noqa: D102 - see VenueSim
        return kalshi_wire.truth_of(trade)

    def symbol(self, instrument: str) -> str:  # noqa: D102 - see VenueSim
        return kalshi.to_symbol(instrument)

    async def send_heartbeats(self) -> None:
        """Send every connection a Ping frame with body ``heartbeat`` every :attr:`heartbeat_seconds`."""
        if self.heartbeat_seconds is None:
            return
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            if self.silent(loop.time()):
                continue
            await asyncio.gather(*(self._heartbeat(client) for client in list(self.clients)))

    async def _heartbeat(self, client: Client) -> None:
        """One heartbeat Ping (a slow reader delays only its own)."""
        if client.connection.state is not State.OPEN:
            return
        try:
            await client.connection.ping(kalshi_wire.HEARTBEAT)
        except (ConnectionClosed, ConcurrencyError):
            return  # closing, or its previous heartbeat is still unanswered
        self.heartbeats_sent += 1


def _write(client: Client, frames: Iterable[str]) -> None:
    """Write frames to a connection now, in order, ahead of anything an emission tick sends later."""
    for frame in frames:
        broadcast([client.connection], frame)


def _connection(client: Client) -> _Connection:
    state = client.state["kalshi"]
    assert isinstance(state, _Connection)
    return state


def _command(message: str | bytes) -> dict[str, Any]:
    """A command object with a valid ``id``, or :class:`_Command` code 1."""
    try:
        command = json.loads(message)
    except (ValueError, UnicodeDecodeError):
        raise _Command(1, "invalid JSON") from None
    if not isinstance(command, dict):
        raise _Command(1, "a command must be a JSON object")
    if not _is_int(command.get("id")) or command["id"] < 1:
        raise _Command(1, "'id' must be a positive integer")
    return command


def _params(command: dict[str, Any]) -> dict[str, Any]:
    params = command.get("params")
    if not isinstance(params, dict):
        raise _Command(2)
    return params


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _integer(query: dict[str, list[str]], name: str) -> int | None:
    text = _first(query, name)
    if text is None:
        return None
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{name} must be a non-negative integer, not {text[:40]!r}")
    return int(text)

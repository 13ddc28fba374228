"""The Kalshi feed: signed handshake; trades with ``seq`` gaps, REST repair and catch-up; books, tickers, lifecycle.

Conventions (see :mod:`streaming.venues.kalshi` for the sources):

* **URL and key.** ``settings.ws_url("kalshi")`` + ``/trade-api/ws/v2``. The handshake is signed per
  connection attempt (the timestamp must be fresh) with the key :func:`resolve_key` resolves: the
  configured Kalshi API key, else the development key the simulator trusts.
* **Subscriptions**, in this order: ``market_lifecycle_v2`` (no market filter: Kalshi supports none;
  it carries ``market_lifecycle_v2`` and ``event_lifecycle`` messages), ``ticker_v2`` for the configured
  markets, then per market ``trade`` and ``orderbook_delta``, each in its own ``subscribe`` command
  (``{"id": n, "cmd": "subscribe", "params": {"channels": ["trade"], "market_tickers": [ticker]}}``),
  so that each subscription id (``sid``) of a trade or book covers exactly one market and its ``seq``
  numbers that market's messages only: a hole in ``seq`` names the market that lost something. The
  lifecycle subscription comes first so that it sees the markets open.
* **Gap detection.** Kalshi numbers the messages of each sid 1, 2, 3... per connection; the sequence
  reader yields ``("trade:<ticker>", seq)`` for every frame of a trade sid, and ``(stream, 0)`` when
  its ``subscribed`` reply arrives (so a lost first trade is a gap too). Numbering restarts on every
  connection (``sequences_per_connection``).
* **Repair.** A gap carries ``seq`` numbers, not times; the reader keeps, per market, the trade seen
  before the gap and the one that revealed it. Repair walks ``GET /trade-api/v2/markets/trades``
  (cursor pages, ``min_ts``/``max_ts`` in seconds, one second of margin either side since Kalshi
  filters whole seconds) over the window between them and returns the ``missing`` trades just
  before the revealing trade in the venue's order (the history is listed newest first). When that
  cannot be matched exactly it returns the whole window, and without those anchors the window from
  the market's last trade seen until now; the collector deduplicates on (symbol, trade id).
* **Catch-up.** ``seq`` restarts per connection, so nothing on the wire reveals what a disconnect
  lost: after a reconnect the feed fetches each market's trades since its last event time.
* **Books.** Kalshi numbers a subscription's messages with one ``seq`` across all its markets, so a
  hole in a sid covering several books would leave all of them unknown. Decided here: one
  ``orderbook_delta`` sid per market instead (no ``book_gaps`` mapping needed): its
  ``orderbook_snapshot`` is ``seq`` 1 (or the next), its deltas continue it one by one, and the book
  reducer (:class:`~streaming.book.OrderBook`, the ``BookUpdate.sequence`` of each message) sees a lost
  delta itself. The sequence reader leaves book sids out (the collector's book sync checks them). To
  resynchronise a book the feed resubscribes it (:meth:`KalshiFeed.resubscribe_book`): ``unsubscribe``
  its sid, then ``subscribe`` the market again; Kalshi answers with a new sid and a new snapshot,
  which arrives after every delta of the old sid (one ordered stream). Deltas are relative (a signed
  count change: ``BookUpdate`` kind ``increment``); Kalshi sends no checksum and every level (no depth
  limit). Not handled: an ``error`` reply to a renewal's ``subscribe`` leaves that book waiting for a
  snapshot until the next reconnect (the simulator never refuses one).
* **Tickers** (``ticker_v2``) carry no ``seq``: nothing to check. **Lifecycle** messages carry the
  ``seq`` of their sid: the reader yields ``("lifecycle", seq)`` (``0`` at the ``subscribed`` reply), so
  a lost lifecycle message is recorded as a gap; there is no history to repair it from.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Sequence

import orjson
from websockets.asyncio.client import ClientConnection

from contracts.records import Gap, Trade
from streaming import rest
from streaming.errors import StreamingError
from streaming.feeds.base import VenueFeed
from streaming.feeds.kalshi_keys import resolve_key
from streaming.venues import kalshi
from streaming.venues.base import ParsedFrame
from ticklake.settings import Settings
from ticklake.timeutil import now_ns

__all__ = ["KalshiFeed", "SequencedFrame", "feed", "resolve_key", "stream_of"]

log = logging.getLogger(__name__)

STREAM_PREFIX = "trade:"
"""Gap streams are ``trade:<market ticker>``."""

LIFECYCLE_STREAM = "lifecycle"
"""The gap stream of the ``market_lifecycle_v2`` subscription."""

TRADE = "trade"
BOOK = "orderbook_delta"
TICKER = "ticker_v2"
LIFECYCLE = "market_lifecycle_v2"

Command = tuple[int, str, tuple[str, ...]]
"""A ``subscribe`` command: request id, channel, market tickers (empty: no market filter)."""

MAX_PAGES = 10_000
"""A history walk stops after this many pages (a cursor that never ends is the venue's bug)."""

MAX_PENDING_GAPS = 10_000
"""Gap anchors kept for repair; the oldest are forgotten first."""

FALLBACK_SECONDS = 60
"""Without anything known of a market, repair looks this far back."""

_NS = 1_000_000_000


def stream_of(ticker: str) -> str:
    """The gap stream of a market's trades (``"trade:KXBTCD-25NOV2117-T95999.99"``)."""
    return f"{STREAM_PREFIX}{ticker}"


@dataclasses.dataclass(frozen=True, slots=True)
class SequencedFrame(ParsedFrame):
    """A parsed Kalshi frame with its envelope, which the sequence reader needs.

    Attributes:
        sid: The frame's subscription id, when it has one.
        seq: The frame's position in its subscription, when it has one.
        request_id: The command id a reply echoes.
        subscribed_sid: The sid a ``subscribed`` reply announces.
        received_at: When the frame arrived, epoch ns.
    """

    sid: int | None = None
    seq: int | None = None
    request_id: int | None = None
    subscribed_sid: int | None = None
    received_at: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class _Position:
    """The last numbered frame of a stream: its ``seq``, its trade (if any) and a time at or before it."""

    seq: int
    trade: Trade | None
    time_ns: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Anchors:
    """What surrounds a gap: the trade before it (``None`` at the start), the one that revealed it."""

    before: Trade | None
    after: Trade | None
    since_ns: int


class KalshiFeed:
    """The state of one Kalshi feed: subscriptions, ``seq`` positions and gap anchors across connections.

    Args:
        settings: Instruments (``instruments_of("kalshi")``), the REST base URL and the key settings.
        key_id: The API key id that signs the handshake.
        private_key_pem: Its RSA private key in PEM.
    """

    def __init__(self, settings: Settings, key_id: str, private_key_pem: bytes) -> None:
        self.instruments: tuple[str, ...] = tuple(settings.instruments_of(kalshi.VENUE))
        self.tickers: tuple[str, ...] = tuple(kalshi.to_symbol(i) for i in self.instruments)
        self.rest_url = settings.rest_url(kalshi.VENUE)
        self._key_id = key_id
        self._private_key_pem = private_key_pem
        self._lock = threading.Lock()  # repair and catch-up run in threads
        self._requests: dict[int, tuple[str, str | None]] = {}  # request id -> (channel, its one market)
        self._market_of_sid: dict[int, str] = {}
        self._channel_of_sid: dict[int, str] = {}
        self._book_sid: dict[str, int] = {}  # market ticker -> the sid of its live book subscription
        self._next_request = 1
        self._websocket: ClientConnection | None = None
        self._positions: dict[str, _Position] = {}
        self._anchors: collections.OrderedDict[tuple[str, int, int], list[_Anchors]] = collections.OrderedDict()
        self._last_seen: dict[str, int] = {}

    # --- connection ----------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        """The signed handshake headers, fresh for this connection attempt."""
        return kalshi.auth_headers(self._key_id, self._private_key_pem, time.time_ns() // 1_000_000)

    def subscriptions(self) -> list[Command]:
        """The ``subscribe`` commands of a connection, in order: lifecycle, tickers, each market's trades and book."""
        channels: list[tuple[str, tuple[str, ...]]] = [(LIFECYCLE, ()), (TICKER, self.tickers)]
        for ticker in self.tickers:
            channels += [(TRADE, (ticker,)), (BOOK, (ticker,))]
        return [(request_id, channel, tickers) for request_id, (channel, tickers) in enumerate(channels, start=1)]

    async def on_connect(self, websocket: ClientConnection) -> None:
        """Forget the previous connection's sids and numbers, then subscribe (:meth:`subscriptions`)."""
        commands = self.subscriptions()
        with self._lock:
            self._websocket = websocket
            self._requests = {
                rid: (channel, tickers[0] if len(tickers) == 1 else None) for rid, channel, tickers in commands
            }
            self._next_request = len(commands) + 1
            self._market_of_sid.clear()
            self._channel_of_sid.clear()
            self._book_sid.clear()
            self._positions.clear()
        for request_id, channel, tickers in commands:
            await websocket.send(kalshi.subscribe_message([channel], list(tickers), request_id))

    async def resubscribe_book(self, websocket: ClientConnection, instrument: str) -> None:
        """Ask for a new snapshot of a market's book: unsubscribe its book sid, subscribe the market again.

        Args:
            websocket: The live connection.
            instrument: The canonical instrument.

        Raises:
            StreamingError: The connection is not the current one, or the market has no book subscription
                (yet, or one being renewed): the collector asks again with the book's next update.
            WebSocketException: The connection failed while sending.
        """
        ticker = kalshi.to_symbol(instrument)
        with self._lock:
            if websocket is not self._websocket:
                raise StreamingError("the connection was replaced: its subscriptions were renewed with it")
            sid = self._book_sid.pop(ticker, None)
            if sid is None:
                raise StreamingError(f"no live orderbook_delta subscription of {ticker} to renew")
            unsubscribe_id, subscribe_id = self._next_request, self._next_request + 1
            self._next_request += 2
            self._requests[subscribe_id] = (BOOK, ticker)
        await websocket.send(kalshi.unsubscribe_message([sid], unsubscribe_id))
        await websocket.send(kalshi.subscribe_message([BOOK], [ticker], subscribe_id))

    # --- frames --------------------------------------------------------------------------------

    @staticmethod
    def parse(raw: bytes | str, received_at: int) -> ParsedFrame:
        """:func:`streaming.venues.kalshi.parse`, keeping the envelope (sid, seq, request id) for the reader.

        Raises:
            ParseError: As :func:`streaming.venues.kalshi.parse`.
        """
        parsed = kalshi.parse(raw, received_at)
        if parsed.control == "heartbeat":
            return parsed
        head = kalshi.envelope(raw)
        announced = None
        if head.type == "subscribed":
            body = orjson.loads(raw).get("msg")
            sid = body.get("sid") if isinstance(body, dict) else None
            announced = sid if type(sid) is int and sid > 0 else None
        return SequencedFrame(
            parsed.channel,
            parsed.records,
            parsed.control,
            sid=head.sid,
            seq=head.seq,
            request_id=head.request_id,
            subscribed_sid=announced,
            received_at=received_at,
        )

    def sequences(self, parsed: ParsedFrame) -> list[tuple[str, int]]:
        """The ``(stream, seq)`` a frame carries; remembers what surrounds each gap for its repair.

        Trade sids give ``("trade:<ticker>", seq)``, the lifecycle sid ``("lifecycle", seq)``; book sids
        give nothing (their book's sync checks them), nor do unsequenced frames.
        """
        if not isinstance(parsed, SequencedFrame):
            return []
        with self._lock:
            request_id = parsed.request_id
            requested = self._requests.get(request_id) if request_id is not None else None
            if parsed.subscribed_sid is not None and request_id is not None and requested is not None:
                channel, ticker = requested
                self._channel_of_sid[parsed.subscribed_sid] = channel
                if channel == BOOK and ticker is not None:
                    del self._requests[request_id]  # a renewal's id is used once
                    self._book_sid[ticker] = parsed.subscribed_sid
                    return []
                if channel == LIFECYCLE:
                    return [(LIFECYCLE_STREAM, 0)]
                if channel != TRADE or ticker is None:
                    return []
                self._market_of_sid[parsed.subscribed_sid] = ticker
                self._positions[stream_of(ticker)] = _Position(0, None, parsed.received_at)
                return [(stream_of(ticker), 0)]  # seq starts at 1: the reply is the baseline
            if parsed.sid is None or parsed.seq is None:
                return []
            kind = self._channel_of_sid.get(parsed.sid)
            if kind == BOOK:
                return []
            if kind == LIFECYCLE:
                return [(LIFECYCLE_STREAM, parsed.seq)]
            trade = next((r for r in parsed.records if isinstance(r, Trade)), None)
            ticker = self._market_of_sid.get(parsed.sid)
            if ticker is None and trade is not None:
                ticker = self._market_of_sid[parsed.sid] = trade.symbol
            stream = stream_of(ticker) if ticker is not None else f"sid:{parsed.sid}"
            if trade is not None and trade.ts_event > self._last_seen.get(trade.instrument, 0):
                self._last_seen[trade.instrument] = trade.ts_event
            self._advance(stream, parsed.seq, trade, parsed.received_at)
        return [(stream, parsed.seq)]

    def _advance(self, stream: str, seq: int, trade: Trade | None, received_at: int) -> None:
        last = self._positions.get(stream)
        if last is not None and seq > last.seq + 1:
            self._anchors.setdefault((stream, last.seq + 1, seq - 1), []).append(
                _Anchors(last.trade, trade, last.time_ns)
            )
            while len(self._anchors) > MAX_PENDING_GAPS:
                self._anchors.popitem(last=False)
        if last is None or seq > last.seq:
            self._positions[stream] = _Position(seq, trade, trade.ts_event if trade is not None else received_at)

    # --- REST ----------------------------------------------------------------------------------

    def history(self, instrument: str, min_ts: int | None, max_ts: int | None) -> list[Trade]:
        """Every trade of a market in a window of ``GET /markets/trades``, newest first, walking the cursor.

        Args:
            instrument: A Kalshi instrument.
            min_ts: Trades after this epoch second, or ``None``.
            max_ts: Trades before this epoch second, or ``None``.

        Raises:
            StreamingError: The venue cannot be reached or refused the request.
            ParseError: A page is not a page of that market's trades.
        """
        found: list[Trade] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            path, params = kalshi.rest_trades_request(instrument, cursor, min_ts, max_ts=max_ts)
            page, cursor = kalshi.parse_rest_trades(rest.get(self.rest_url, path, params), now_ns(), instrument)
            found += page
            if cursor is None:
                return found
        raise StreamingError(f"the trade history of {instrument} did not end after {MAX_PAGES} pages")

    def repair(self, gap: Gap) -> list[Trade]:
        """The trades a ``seq`` gap lost, from the REST history (blocking).

        Returns:
            Exactly the gap's trades (oldest first) when the trades around it are known and found in
            the history; otherwise every trade of the window that may hold them.

        Raises:
            StreamingError: Not a market's trade stream, or the history cannot be fetched.
            ParseError: The history is malformed.
        """
        if gap.stream == LIFECYCLE_STREAM:
            raise StreamingError("cannot repair lost lifecycle messages: Kalshi keeps no history of them")
        if not gap.stream.startswith(STREAM_PREFIX):
            raise StreamingError(f"cannot repair {gap.stream}: not the trade stream of a known market")
        instrument = kalshi.to_instrument(gap.stream.removeprefix(STREAM_PREFIX))
        with self._lock:
            waiting = self._anchors.get((gap.stream, gap.first_missing, gap.last_missing))
            anchors = waiting.pop(0) if waiting else None
            if waiting == []:
                del self._anchors[(gap.stream, gap.first_missing, gap.last_missing)]
            last_seen = self._last_seen.get(instrument)
        if anchors is not None and anchors.after is not None:
            window = self.history(instrument, max(0, anchors.since_ns // _NS - 1), anchors.after.ts_event // _NS + 1)
            exact = between(window, anchors.before, anchors.after, gap.missing)
            if exact is not None:
                return exact
            log.warning(
                "kalshi repair of %s %d..%d: no exact match, using the window",
                gap.stream,
                gap.first_missing,
                gap.last_missing,
            )
            return window[::-1]
        since = last_seen if last_seen is not None else now_ns() - FALLBACK_SECONDS * _NS
        return self.history(instrument, max(0, since // _NS - 1), None)[::-1]

    def catch_up(self, since: dict[str, int]) -> list[Trade]:
        """The trades of each market since its last event time (epoch ns), oldest first (blocking).

        Raises:
            StreamingError: The history cannot be fetched.
            ParseError: The history is malformed.
        """
        found: list[Trade] = []
        for instrument, ts_event in since.items():
            if instrument not in self.instruments:
                continue
            floor = ts_event // _NS * _NS  # the stream's times are whole seconds
            window = self.history(instrument, max(0, ts_event // _NS - 1), None)
            found += [trade for trade in reversed(window) if trade.ts_event >= floor]
        return found


def between(window: Sequence[Trade], before: Trade | None, after: Trade, missing: int) -> list[Trade] | None:
    """The ``missing`` trades just before ``after`` (and after ``before``) in a newest-first history.

    Args:
        window: Trades, newest first.
        before: The trade before the gap, or ``None`` when the gap starts the subscription.
        after: The trade that revealed the gap.
        missing: How many trades the gap lost.

    Returns:
        The gap's trades, oldest first; ``None`` when the anchors are not in the window or the trades
        between them are not exactly ``missing``.
    """
    ids = [trade.trade_id for trade in window]
    if after.trade_id not in ids:
        return None
    start = ids.index(after.trade_id) + 1
    if before is None:
        older = list(window[start:])
        return older[:missing][::-1] if len(older) >= missing else None
    if before.trade_id not in ids[start:]:
        return None
    older = list(window[start : ids.index(before.trade_id, start)])
    return older[::-1] if len(older) == missing else None


def feed(settings: Settings) -> VenueFeed:
    """The Kalshi feed of the configured markets: trades, books (resynchronised by resubscribing), tickers, lifecycle.

    Raises:
        ConfigError: The Kalshi key settings are inconsistent or the key cannot be read.
    """
    key_id, private_key_pem = resolve_key(settings)
    state = KalshiFeed(settings, key_id, private_key_pem)
    return VenueFeed(
        venue=kalshi.VENUE,
        url=settings.ws_url(kalshi.VENUE) + kalshi.WS_PATH,
        parse=state.parse,
        on_connect=state.on_connect,
        headers=state.headers,
        sequences=state.sequences,
        sequences_per_connection=True,
        repair=state.repair,
        catch_up=state.catch_up,
        book_resubscribe=state.resubscribe_book,
    )

-- The window's candles of every interval.
SELECT
    venue,
    instrument,
    "interval",
    window_start,
    window_end,
    "open",
    high,
    low,
    "close",
    volume,
    buy_volume,
    sell_volume,
    quote_volume,
    vwap,
    trade_count,
    first_trade_id,
    last_trade_id,
    coalesce(revision, 1) AS revision,
    event_date
FROM {{ source('silver', 'candles') }}
WHERE {{ in_window('event_date') }}

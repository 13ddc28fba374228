-- The window's trades, typed and trimmed to what the marts use.
SELECT
    venue,
    instrument,
    symbol,
    trade_id,
    price,
    size,
    side,
    ts_event,
    event_date
FROM {{ source('silver', 'trades') }}
WHERE {{ in_window('event_date') }}

-- One row per venue, instrument and UTC day of the window: OHLC by event order, volumes by taker
-- side, quote volume, VWAP, counts and the first/last trade. Prices and volumes stay exact decimals;
-- quote volume and VWAP are derived doubles (as in silver.candles).
SELECT
    venue,
    instrument,
    event_date,
    arg_min(price, {{ event_order() }}) AS "open",
    max(price) AS high,
    min(price) AS low,
    arg_max(price, {{ event_order() }}) AS "close",
    sum(size) AS volume,
    coalesce(sum(size) FILTER (WHERE side = 'buy'), 0) AS buy_volume,
    coalesce(sum(size) FILTER (WHERE side = 'sell'), 0) AS sell_volume,
    coalesce(sum(size) FILTER (WHERE side = 'unknown'), 0) AS unknown_volume,
    sum(price::DOUBLE * size::DOUBLE) AS quote_volume,
    sum(price::DOUBLE * size::DOUBLE) / sum(size)::DOUBLE AS vwap,
    count(*) AS trade_count,
    count(*) FILTER (WHERE side = 'buy') AS buy_count,
    count(*) FILTER (WHERE side = 'sell') AS sell_count,
    min(ts_event) AS first_trade_ns,
    max(ts_event) AS last_trade_ns,
    arg_min(trade_id, {{ event_order() }}) AS first_trade_id,
    arg_max(trade_id, {{ event_order() }}) AS last_trade_id
FROM {{ ref('stg_trades') }}
GROUP BY venue, instrument, event_date

{{ config(unique_key='event_date', pre_hook="{{ delete_window() }}") }}
-- The daily market summary per venue and instrument (one row per UTC day with trades).
SELECT
    t.venue,
    t.instrument,
    t.event_date,
    t."open",
    t.high,
    t.low,
    t."close",
    t.volume,
    t.buy_volume,
    t.sell_volume,
    t.unknown_volume,
    t.quote_volume,
    t.vwap,
    t.trade_count,
    t.buy_count,
    t.sell_count,
    CASE WHEN t.sell_volume > 0 THEN t.buy_volume::DOUBLE / t.sell_volume::DOUBLE END AS buy_sell_ratio,
    v.realized_volatility,
    coalesce(v.return_count, 0) AS return_count,
    t.first_trade_ns,
    t.last_trade_ns,
    t.first_trade_id,
    t.last_trade_id
FROM {{ ref('int_trades_daily') }} AS t
LEFT JOIN {{ ref('int_realized_volatility_daily') }} AS v USING (venue, instrument, event_date)

{{ config(unique_key='event_date', pre_hook="{{ delete_window() }}") }}
-- The candles the API serves (1m, 5m, 1h in one mart, by `interval`), with each candle's log return.
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
    revision,
    log_return,
    event_date
FROM {{ ref('int_candle_returns') }}

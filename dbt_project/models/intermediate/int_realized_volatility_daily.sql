-- Daily realized volatility from 1-minute candle closes: sqrt(sum of squared log returns) over the
-- day's consecutive 1m candles (not annualized; minutes without trades have no candle and no return).
SELECT
    venue,
    instrument,
    event_date,
    count(log_return) AS return_count,
    sqrt(sum(log_return * log_return)) AS realized_volatility
FROM {{ ref('int_candle_returns') }}
WHERE "interval" = '1m'
GROUP BY venue, instrument, event_date

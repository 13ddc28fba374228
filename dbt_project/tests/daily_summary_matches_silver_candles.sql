{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'fct_daily_market_summary'}}}) }}
-- Cross-check of the two silver inputs: a day's trade count from silver.trades equals the sum of
-- its 1-minute candles' trade counts from silver.candles. A warning (non-blocking check on
-- gold/daily_market_summary): silver.candles may lag silver.trades for a moment while both rebuild.
WITH candles AS (
    SELECT venue, instrument, event_date, sum(trade_count) AS candle_trades
    FROM {{ ref('stg_candles') }}
    WHERE "interval" = '1m'
    GROUP BY ALL
)
SELECT venue, instrument, event_date, s.trade_count, c.candle_trades
FROM {{ ref('fct_daily_market_summary') }} AS s
FULL OUTER JOIN candles AS c USING (venue, instrument, event_date)
WHERE {{ in_window('event_date') }}
  AND s.trade_count IS DISTINCT FROM c.candle_trades

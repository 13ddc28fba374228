-- Each candle with its log return against the previous candle of the same series and UTC day
-- (the day's first candle has none: a day builds without reading its neighbours).
SELECT
    *,
    {{ log_return('"close"', 'previous_close') }} AS log_return
FROM (
    SELECT
        *,
        lag("close") OVER (
            PARTITION BY venue, instrument, "interval", event_date ORDER BY window_start
        ) AS previous_close
    FROM {{ ref('stg_candles') }}
)

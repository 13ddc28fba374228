{{ config(unique_key='event_date', pre_hook="{{ delete_window() }}") }}
-- The day's largest trades per venue and instrument: the top `largest_trades_n` by size (ties: the
-- earlier trade by event order first), ranked from 1.
SELECT
    venue,
    instrument,
    event_date,
    size_rank,
    trade_id,
    price,
    size,
    side,
    ts_event
FROM (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY venue, instrument, event_date ORDER BY size DESC, {{ event_order() }}
        ) AS size_rank
    FROM {{ ref('stg_trades') }}
)
WHERE size_rank <= {{ var('largest_trades_n') | int }}

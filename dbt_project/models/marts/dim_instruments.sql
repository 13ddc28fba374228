{{ config(materialized='table') }}
-- The instrument dimension: one row per venue and instrument ever traded, with its kind and parts
-- (contracts/instruments.py rules) and when it was first and last seen. Rebuilt whole from the
-- daily summary (small: one row per instrument and day), so it always agrees with it.
SELECT
    venue,
    instrument,
    {{ instrument_kind('instrument') }} AS kind,
    {{ instrument_base('instrument') }} AS base,
    {{ instrument_quote('instrument') }} AS quote,
    {{ instrument_expiry('instrument') }} AS expiry,
    min(first_trade_ns) AS first_seen_ns,
    max(last_trade_ns) AS last_seen_ns,
    min(event_date) AS first_seen_date,
    max(event_date) AS last_seen_date,
    count(*) AS days_traded,
    sum(trade_count)::BIGINT AS trade_count
FROM {{ ref('fct_daily_market_summary') }}
GROUP BY venue, instrument

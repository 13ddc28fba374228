{#-
  Canonical instrument naming, the same rules as contracts/instruments.py (a test keeps the
  patterns in sync):
    spot BASE-QUOTE, perpetual BASE-QUOTE-PERP, future BASE-QUOTE-YYYYMMDD, prediction VENUE:ID.
  A name that is none of these has a NULL kind (the dimension's tests then fail).
-#}

{% macro _instrument_patterns() -%}
    {{ return({
        "perpetual": "^([A-Z0-9]+)-([A-Z0-9]+)-PERP$",
        "future": "^([A-Z0-9]+)-([A-Z0-9]+)-(\\d{8})$",
        "spot": "^([A-Z0-9]+)-([A-Z0-9]+)$",
        "prediction": "^(KALSHI|POLYMARKET):([A-Za-z0-9._-]{1,128})$",
    }) }}
{%- endmacro %}

{% macro instrument_kind(column) -%}
    {%- set patterns = _instrument_patterns() -%}
    CASE
    {%- for kind in ["perpetual", "future", "spot", "prediction"] %}
        WHEN regexp_full_match({{ column }}, '{{ patterns[kind] }}') THEN '{{ kind }}'
    {%- endfor %}
    END
{%- endmacro %}

{% macro instrument_base(column) -%}
    {%- set patterns = _instrument_patterns() -%}
    CASE
    {%- for kind in ["perpetual", "future", "spot"] %}
        WHEN regexp_full_match({{ column }}, '{{ patterns[kind] }}')
            THEN regexp_extract({{ column }}, '{{ patterns[kind] }}', 1)
    {%- endfor %}
    END
{%- endmacro %}

{% macro instrument_quote(column) -%}
    {%- set patterns = _instrument_patterns() -%}
    CASE
    {%- for kind in ["perpetual", "future", "spot"] %}
        WHEN regexp_full_match({{ column }}, '{{ patterns[kind] }}')
            THEN regexp_extract({{ column }}, '{{ patterns[kind] }}', 2)
    {%- endfor %}
    END
{%- endmacro %}

{% macro instrument_expiry(column) -%}
    CASE
        WHEN regexp_full_match({{ column }}, '{{ _instrument_patterns()["future"] }}')
            THEN strptime(regexp_extract({{ column }}, '{{ _instrument_patterns()["future"] }}', 3), '%Y%m%d')::DATE
    END
{%- endmacro %}

{#-
  The event order of trades, as silver candles use it: event time, ties broken by trade id with
  numeric ids in numeric order (shorter id first, then text order). Never arrival order.
-#}
{% macro event_order(ts="ts_event", trade_id="trade_id") -%}
    struct_pack(t := {{ ts }}, n := length({{ trade_id }}), id := {{ trade_id }})
{%- endmacro %}

{#-
  ln(price / previous) as a double, accurate even for tiny moves: the relative change
  x = (price - previous) / previous is taken from the exact decimal difference, and ln(1 + x) uses
  Kahan's log1p trick (DuckDB has no log1p; ln(price / previous) in doubles loses about half the
  digits when the move is a few ticks). NULL unless both prices are positive.
-#}
{% macro log_return(price, previous) -%}
    {%- set x = "((" ~ price ~ " - " ~ previous ~ ")::DOUBLE / " ~ previous ~ "::DOUBLE)" -%}
    CASE
        WHEN {{ price }} > 0 AND {{ previous }} > 0 THEN
            CASE
                WHEN 1.0 + {{ x }} = 1.0 THEN {{ x }}
                ELSE ln(1.0 + {{ x }}) * {{ x }} / ((1.0 + {{ x }}) - 1.0)
            END
    END
{%- endmacro %}

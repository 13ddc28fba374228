{#- The build window [start, end) of UTC event dates, from the `start` and `end` vars. -#}

{% macro _window_date(name) -%}
    {%- set text = var(name) | string -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', text) -%}
        {{ exceptions.raise_compiler_error("var '" ~ name ~ "' must be an ISO date such as 2026-11-20, got '" ~ text ~ "'") }}
    {%- endif -%}
    {{- modules.datetime.date.fromisoformat(text).isoformat() -}}
{%- endmacro %}

{% macro window_start() -%}
    DATE '{{ _window_date("start") }}'
{%- endmacro %}

{% macro window_end() -%}
    DATE '{{ _window_date("end") }}'
{%- endmacro %}

{% macro in_window(column="event_date") -%}
    ({{ column }} >= {{ window_start() }} AND {{ column }} < {{ window_end() }})
{%- endmacro %}

{#-
  Pre-hook of the windowed incremental models: in the same transaction as dbt's delete+insert,
  clear the whole window first, so a day whose rows all vanished upstream does not keep stale rows
  (delete+insert alone only replaces the days present in the new rows).
-#}
{% macro delete_window(column="event_date") -%}
    {%- if is_incremental() -%}
        DELETE FROM {{ this }} WHERE {{ in_window(column) }}
    {%- else -%}
        SELECT 1
    {%- endif -%}
{%- endmacro %}

{#- The combination of `columns` identifies a row: no two rows share it, and none of it is NULL. -#}
{% test unique_combination(model, columns) %}
{%- set quoted = [] -%}
{%- for column in columns -%}{%- do quoted.append(adapter.quote(column)) -%}{%- endfor %}
SELECT {{ quoted | join(', ') }}, count(*) AS occurrences
FROM {{ model }}
GROUP BY {{ quoted | join(', ') }}
HAVING count(*) > 1 OR {{ quoted | join(' IS NULL OR ') }} IS NULL
{% endtest %}

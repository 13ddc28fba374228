{#- Every row satisfies `expression`; a row where it is NULL fails too (say so explicitly when NULL is fine). -#}
{% test expression_is_true(model, expression, column_name=None) %}
SELECT *
FROM {{ model }}
WHERE coalesce(NOT ({{ expression }}), TRUE)
{% endtest %}

{# Fails with every row whose JSON `column_name` is not an array (NULLs pass): a protocol's
   registered analyses are a list (migration 0006 checks the same in PostgreSQL). #}
{% test json_array(model, column_name) %}
select *
from {{ model }}
where {{ column_name }} is not null and json_type({{ column_name }}) <> 'ARRAY'
{% endtest %}

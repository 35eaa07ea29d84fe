{# The rows the quality gate of raw `table` refused (americano_pipelines/quality/): its id, the
   rules it broke, when, and the row as JSON, from the Parquet files the extraction asset writes
   beside the raw ones. #}
{% macro quarantined_rows(table) -%}
select
    id,
    rules,
    quarantined_at,
    cast("row" as json) as "row"
from read_parquet('{{ env_var('AMERICANO_QUARANTINE_DIR', '../data/quarantine') }}/{{ table }}/*.parquet')
{%- endmacro %}

{#- A phase's last day: its recorded end date, or, while it has none, the day its planned
    duration ends (a phase of planned_duration d starting on day s covers s .. s + d - 1).
    `relation` is the alias of a relation with start_date, end_date and planned_duration. -#}
{% macro phase_end_date(relation=none) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    coalesce({{ prefix }}end_date, {{ prefix }}start_date + {{ prefix }}planned_duration - 1)
{%- endmacro %}

-- Grain: one row per raw context_metadata row its quality gate refused; source raw.context_metadata leaves these ids out.
-- depends_on: {{ source('raw', 'context_metadata') }}
{{ quarantined_rows('context_metadata') }}

-- Grain: one row per raw users row its quality gate refused; source raw.users leaves these ids out.
-- depends_on: {{ source('raw', 'users') }}
{{ quarantined_rows('users') }}

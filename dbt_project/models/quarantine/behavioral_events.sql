-- Grain: one row per raw behavioral_events row its quality gate refused; source raw.behavioral_events leaves these ids out.
-- depends_on: {{ source('raw', 'behavioral_events') }}
{{ quarantined_rows('behavioral_events') }}

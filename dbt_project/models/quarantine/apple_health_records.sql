-- Grain: one row per raw apple_health_records row its quality gate refused; source raw.apple_health_records leaves these ids (user_id/source_record_id) out.
-- depends_on: {{ source('raw', 'apple_health_records') }}
{{ quarantined_rows('apple_health_records') }}

-- Grain: one row per raw wearable_records row its quality gate refused; source raw.wearable_records leaves these ids out.
-- depends_on: {{ source('raw', 'wearable_records') }}
{{ quarantined_rows('wearable_records') }}

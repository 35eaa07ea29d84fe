-- Grain: one row per raw experiment_protocols row its quality gate refused; source raw.experiment_protocols leaves these ids out.
-- depends_on: {{ source('raw', 'experiment_protocols') }}
{{ quarantined_rows('experiment_protocols') }}

-- Grain: one row per raw phase_assignments row its quality gate refused; source raw.phase_assignments leaves these ids out.
-- depends_on: {{ source('raw', 'phase_assignments') }}
{{ quarantined_rows('phase_assignments') }}

-- The B phases' own minimum length of an ABAB or multiple baseline protocol (the protocol file's
-- `minBPhaseLength`; scan's `limit = c(A, B)`): its schedule is drawn with it, and its
-- randomization test must enumerate the same schedules. NULL: min_phase_length for every phase.

ALTER TABLE experiment_protocols
    ADD COLUMN min_b_phase_length integer
        CONSTRAINT experiment_protocols_min_b_phase_length_range
        CHECK (min_b_phase_length BETWEEN 1 AND 3660),
    ADD CONSTRAINT experiment_protocols_min_b_phase_length_design
        CHECK (min_b_phase_length IS NULL OR design_type IN ('ABAB', 'MULTIPLE_BASELINE'));

-- Pre-registered: frozen with the others (migration 0007's list).
CREATE OR REPLACE FUNCTION americano_frozen_protocol_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY[
        'user_id', 'protocol_name', 'hypothesis', 'start_date', 'end_date', 'design_type',
        'primary_outcome', 'sample_size_target', 'analysis_plan', 'min_phase_length',
        'planned_length', 'interim_looks', 'alpha', 'randomization_seed', 'registered_at',
        'analyses',
        'randomization', 'max_consecutive', 'min_b_phase_length'
    ]
$$;

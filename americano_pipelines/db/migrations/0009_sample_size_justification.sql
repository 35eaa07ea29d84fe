-- The sample size justification of a protocol (CENT item 7a): the simulated power of its
-- registered randomization test under its own randomization (`americano protocol power`, the
-- protocol file's `power:` mapping), as that command's JSON object. NULL: none was simulated.
-- The CENT report reads it from here.

ALTER TABLE experiment_protocols
    ADD COLUMN sample_size_justification jsonb
        CONSTRAINT experiment_protocols_sample_size_justification_object
        CHECK (sample_size_justification IS NULL
               OR jsonb_typeof(sample_size_justification) = 'object');

-- Pre-registered: frozen with the others (migration 0007's list).
CREATE OR REPLACE FUNCTION americano_frozen_protocol_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY[
        'user_id', 'protocol_name', 'hypothesis', 'start_date', 'end_date', 'design_type',
        'primary_outcome', 'sample_size_target', 'analysis_plan', 'min_phase_length',
        'planned_length', 'interim_looks', 'alpha', 'randomization_seed', 'registered_at',
        'analyses',
        'randomization', 'max_consecutive', 'min_b_phase_length',
        'sample_size_justification'
    ]
$$;

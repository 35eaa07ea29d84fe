-- The B phases' own minimum length of an ABAB or multiple baseline protocol (the protocol file's
-- `minBPhaseLength`; scan's `limit = c(A, B)`): its schedule is drawn with it, and its
-- randomization test must enumerate the same schedules. NULL: min_phase_length for every phase.

ALTER TABLE experiment_protocols
    ADD COLUMN min_b_phase_length integer
        CONSTRAINT experiment_protocols_min_b_phase_length_range
        CHECK (min_b_phase_length BETWEEN 1 AND 3660),
    ADD CONSTRAINT experiment_protocols_min_b_phase_length_design
        CHECK (min_b_phase_length IS NULL OR design_type IN ('ABAB', 'MULTIPLE_BASELINE'));

-- Pre-registered like the fields of migration 0004's list: set once, with the protocol.
CREATE FUNCTION protect_b_phase_minimum() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.min_b_phase_length IS DISTINCT FROM NEW.min_b_phase_length THEN
        RAISE EXCEPTION 'pre-registered field "min_b_phase_length" of protocol % cannot be edited; record a deviation instead', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER experiment_protocols_b_phase_minimum_frozen
    BEFORE UPDATE ON experiment_protocols
    FOR EACH ROW EXECUTE FUNCTION protect_b_phase_minimum();

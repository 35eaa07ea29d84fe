-- The sample size justification of a protocol (CENT item 7a): the simulated power of its
-- registered randomization test under its own randomization (`americano protocol power`, the
-- protocol file's `power:` mapping), as that command's JSON object. NULL: none was simulated.
-- The CENT report reads it from here.

ALTER TABLE experiment_protocols
    ADD COLUMN sample_size_justification jsonb
        CONSTRAINT experiment_protocols_sample_size_justification_object
        CHECK (sample_size_justification IS NULL
               OR jsonb_typeof(sample_size_justification) = 'object');

-- Pre-registered like the fields of migration 0004's list: set once, with the protocol.
CREATE FUNCTION protect_sample_size_justification() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.sample_size_justification IS DISTINCT FROM NEW.sample_size_justification THEN
        RAISE EXCEPTION 'pre-registered field "sample_size_justification" of protocol % cannot be edited; record a deviation instead', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER experiment_protocols_sample_size_justification_frozen
    BEFORE UPDATE ON experiment_protocols
    FOR EACH ROW EXECUTE FUNCTION protect_sample_size_justification();

-- How an ALTERNATING protocol's sessions were randomized, kept with the protocol: its
-- randomization test must enumerate exactly the sequences the schedule was drawn from.
--   randomization    'restricted' (SCRT "ATD": balanced counts, runs capped at max_consecutive)
--                    or 'blocks' (SCRT "RBD": blocks of one A and one B session, order drawn);
--                    dbt seed alternating_randomizations lists the same values.
--   max_consecutive  the cap of a restricted draw; NULL otherwise.
-- NULL for the other designs, and for ALTERNATING protocols registered before this migration:
-- those were drawn restricted, and their cap sits in the randomization test of their
-- registered `analyses` (or was the default, 2).

ALTER TABLE experiment_protocols
    ADD COLUMN randomization text
        CONSTRAINT experiment_protocols_randomization_known
        CHECK (randomization IN ('restricted', 'blocks')),
    ADD COLUMN max_consecutive integer
        CONSTRAINT experiment_protocols_max_consecutive_range
        CHECK (max_consecutive BETWEEN 1 AND 10),
    ADD CONSTRAINT experiment_protocols_randomization_alternating
        CHECK ((randomization IS NULL OR design_type = 'ALTERNATING')
               AND (max_consecutive IS NULL OR randomization = 'restricted'));

-- Pre-registered like the fields of migration 0004's list: set once, with the protocol.
CREATE FUNCTION protect_alternating_randomization() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.randomization, OLD.max_consecutive)
       IS DISTINCT FROM (NEW.randomization, NEW.max_consecutive) THEN
        RAISE EXCEPTION 'pre-registered field "randomization" of protocol % cannot be edited; record a deviation instead', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER experiment_protocols_alternating_randomization_frozen
    BEFORE UPDATE ON experiment_protocols
    FOR EACH ROW EXECUTE FUNCTION protect_alternating_randomization();

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

-- Pre-registered: frozen with the fields of migration 0006's list. The list becomes a function
-- of its own, so that a migration adding a pre-registered column replaces only the list.
CREATE OR REPLACE FUNCTION americano_frozen_protocol_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY[
        'user_id', 'protocol_name', 'hypothesis', 'start_date', 'end_date', 'design_type',
        'primary_outcome', 'sample_size_target', 'analysis_plan', 'min_phase_length',
        'planned_length', 'interim_looks', 'alpha', 'randomization_seed', 'registered_at',
        'analyses',
        'randomization', 'max_consecutive'
    ]
$$;

CREATE OR REPLACE FUNCTION protect_preregistered_protocol() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    frozen text[] := americano_frozen_protocol_fields();
    field text;
    old_row jsonb := to_jsonb(OLD);
    new_row jsonb := to_jsonb(NEW);
    old_count integer := jsonb_array_length(OLD.deviations);
    stamped jsonb;
BEGIN
    FOREACH field IN ARRAY frozen LOOP
        IF old_row -> field IS DISTINCT FROM new_row -> field THEN
            RAISE EXCEPTION 'pre-registered field "%" of protocol % cannot be edited; record a deviation instead', field, OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END LOOP;
    IF jsonb_typeof(NEW.deviations) IS DISTINCT FROM 'array'
       OR jsonb_array_length(NEW.deviations) < old_count
       OR (SELECT coalesce(jsonb_agg(elem ORDER BY ord), '[]'::jsonb)
             FROM jsonb_array_elements(NEW.deviations) WITH ORDINALITY AS d(elem, ord)
            WHERE ord <= old_count) IS DISTINCT FROM OLD.deviations THEN
        RAISE EXCEPTION 'deviations of protocol % are append-only: earlier entries cannot be changed or removed', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF jsonb_array_length(NEW.deviations) > old_count THEN
        SELECT coalesce(jsonb_agg(
                   CASE WHEN ord > old_count AND jsonb_typeof(elem) = 'object'
                        THEN elem || jsonb_build_object('recordedAt',
                             to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
                        ELSE elem END
                   ORDER BY ord), '[]'::jsonb)
          INTO stamped
          FROM jsonb_array_elements(NEW.deviations) WITH ORDINALITY AS d(elem, ord);
        NEW.deviations := stamped;
    END IF;
    RETURN NEW;
END;
$$;


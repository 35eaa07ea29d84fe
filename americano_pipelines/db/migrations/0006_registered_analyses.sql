-- The analyses a protocol pre-registers (docs/protocol-yaml.md, `analyses:`): a structured list
-- beside the free-text analysis plan, one object per analysis, {"analysis": name, <setting>: …},
-- as americano_pipelines/registration/analyses.py validates and writes it. NULL: the file gave
-- no list, and the protocol runs the default analyses with its analysis plan's settings.
--
-- Names and settings are checked where they are defined (registration/analyses.py); the database
-- keeps the shape: an array of one or more objects, each naming a different analysis.

CREATE FUNCTION americano_valid_analyses(entries jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN jsonb_typeof(entries) IS DISTINCT FROM 'array' THEN false
                WHEN jsonb_array_length(entries) = 0 THEN false
                ELSE NOT EXISTS (
                         SELECT 1 FROM jsonb_array_elements(entries) AS a(entry)
                          WHERE jsonb_typeof(a.entry) IS DISTINCT FROM 'object'
                             OR jsonb_typeof(a.entry -> 'analysis') IS DISTINCT FROM 'string'
                     )
                     AND (SELECT count(DISTINCT a.entry ->> 'analysis')
                            FROM jsonb_array_elements(entries) AS a(entry))
                         = jsonb_array_length(entries)
           END
$$;

ALTER TABLE experiment_protocols
    ADD COLUMN analyses jsonb
        CONSTRAINT experiment_protocols_analyses_valid
        CHECK (analyses IS NULL OR americano_valid_analyses(analyses));

-- Registered analyses are pre-registered fields: frozen with the others (migration 0004's rule,
-- with `analyses` in its list).
CREATE OR REPLACE FUNCTION protect_preregistered_protocol() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    frozen text[] := ARRAY[
        'user_id', 'protocol_name', 'hypothesis', 'start_date', 'end_date', 'design_type',
        'primary_outcome', 'sample_size_target', 'analysis_plan', 'min_phase_length',
        'planned_length', 'interim_looks', 'alpha', 'randomization_seed', 'registered_at',
        'analyses'
    ];
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

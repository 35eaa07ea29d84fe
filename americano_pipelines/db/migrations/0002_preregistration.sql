-- Pre-registration is what makes an N-of-1 result credible: once a protocol is registered, the
-- hypothesis, design, outcome and analysis plan (and the randomized phase schedule) are frozen.
-- Changes go to the append-only `deviations` log instead, which CENT asks authors to report.

CREATE FUNCTION protect_preregistered_protocol() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    frozen text[] := ARRAY[
        'user_id', 'protocol_name', 'hypothesis', 'start_date', 'design_type', 'primary_outcome',
        'sample_size_target', 'analysis_plan', 'min_phase_length', 'planned_length',
        'interim_looks', 'alpha', 'randomization_seed', 'registered_at'
    ];
    field text;
    old_row jsonb := to_jsonb(OLD);
    new_row jsonb := to_jsonb(NEW);
    old_count integer := jsonb_array_length(OLD.deviations);
BEGIN
    FOREACH field IN ARRAY frozen LOOP
        IF old_row -> field IS DISTINCT FROM new_row -> field THEN
            RAISE EXCEPTION 'pre-registered field "%" of protocol % cannot be edited; record a deviation instead', field, OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END LOOP;
    IF jsonb_array_length(NEW.deviations) < old_count
       OR (SELECT coalesce(jsonb_agg(elem ORDER BY ord), '[]'::jsonb)
             FROM jsonb_array_elements(NEW.deviations) WITH ORDINALITY AS d(elem, ord)
            WHERE ord <= old_count) IS DISTINCT FROM OLD.deviations THEN
        RAISE EXCEPTION 'deviations of protocol % are append-only: earlier entries cannot be changed or removed', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER experiment_protocols_preregistered
    BEFORE UPDATE ON experiment_protocols
    FOR EACH ROW EXECUTE FUNCTION protect_preregistered_protocol();

CREATE FUNCTION forbid_protocol_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'protocol % is pre-registered and cannot be deleted', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER experiment_protocols_no_delete
    BEFORE DELETE ON experiment_protocols
    FOR EACH ROW EXECUTE FUNCTION forbid_protocol_delete();

-- The randomized schedule is part of the registration: only the actual end date of a phase
-- may be filled in later.
CREATE FUNCTION protect_preregistered_phase() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    field text;
    old_row jsonb;
    new_row jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'phase % of protocol % is pre-registered and cannot be deleted', OLD.phase_label, OLD.protocol_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    old_row := to_jsonb(OLD) - 'end_date';
    new_row := to_jsonb(NEW) - 'end_date';
    FOR field IN SELECT jsonb_object_keys(old_row) LOOP
        IF old_row -> field IS DISTINCT FROM new_row -> field THEN
            RAISE EXCEPTION 'pre-registered field "%" of phase % cannot be edited; record a deviation instead', field, OLD.phase_label
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END LOOP;
    RETURN NEW;
END;
$$;

CREATE TRIGGER phase_assignments_preregistered
    BEFORE UPDATE OR DELETE ON phase_assignments
    FOR EACH ROW EXECUTE FUNCTION protect_preregistered_phase();

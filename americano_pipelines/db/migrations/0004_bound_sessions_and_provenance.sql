-- Sessions that cannot become another user, a schedule frozen at registration, and provenance
-- that cannot be edited (docs/security.md explains the model and what a superuser can still do).
--
-- 1. The application role logs in as itself: LOGIN, not a superuser, owns nothing, member of
--    no role, so neither `RESET ROLE` nor `SET ROLE postgres` gives anything back.
-- 2. The user a session acts for is no longer a setting the session may change: it is derived
--    from a bearer token (`americano.session_token`) whose sha256 is looked up in
--    `americano_auth.user_tokens`, a table the application role cannot read. Setting another
--    value needs another user's token.
-- 3. An event may point only at its own user's context_metadata row (composite key), so the
--    foreign key is no longer an existence test for other users' rows.
-- 4. Registration: a phase can be inserted only in the transaction that registers its
--    protocol; end dates are frozen (an actual end is a deviation); deviations are objects with
--    a timestamp, a reason and a description; CONSORT counts shrink along the flow; a protocol
--    cannot start before the day it is registered.
-- 5. analysis_runs is append-only and hash-chained per protocol.

-- ----------------------------------------------------------------------------- 1. roles

DO $$
BEGIN
    ALTER ROLE americano_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
        NOBYPASSRLS INHERIT;
END
$$;

-- Revoke any role the application role was granted (cluster-wide; normally none).
DO $$
DECLARE
    granted record;
BEGIN
    FOR granted IN
        SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
         WHERE m.member = 'americano_app'::regrole
    LOOP
        EXECUTE format('REVOKE %I FROM americano_app', granted.rolname);
    END LOOP;
END
$$;

-- Nothing may be created where the definer functions below look up names.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- ----------------------------------------------------------------------------- 2. tokens

CREATE SCHEMA americano_auth;
REVOKE ALL ON SCHEMA americano_auth FROM PUBLIC;

-- One row per bearer token: short-lived `session` tokens that the platform mints for one
-- command or one analysis, and long-lived `api` tokens (`americano users token create`).
-- Only the token's sha256 is stored.
CREATE TABLE americano_auth.user_tokens (
    id          text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    user_id     text NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    kind        text NOT NULL CHECK (kind IN ('session', 'api')),
    name        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX user_tokens_user_id_idx ON americano_auth.user_tokens (user_id);

-- The user of the session's token, or NULL (no rows anywhere). SECURITY DEFINER: it alone may
-- read the token table, and it answers only for the token the session presents.
-- pg_temp is searched last so a session cannot shadow a name with a temporary object.
CREATE OR REPLACE FUNCTION public.americano_current_user_id() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT t.user_id
      FROM americano_auth.user_tokens t
     WHERE t.token_hash = pg_catalog.sha256(pg_catalog.convert_to(
               pg_catalog.current_setting('americano.session_token', true), 'UTF8'))
       AND t.revoked_at IS NULL
       AND (t.expires_at IS NULL OR t.expires_at > pg_catalog.now())
$$;

CREATE OR REPLACE FUNCTION public.americano_owns_protocol(protocol text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM public.experiment_protocols p
         WHERE p.id = protocol AND p.user_id = public.americano_current_user_id()
    )
$$;

-- The policies again, with the user looked up once per statement (an InitPlan) rather than
-- once per row.
DROP POLICY users_own_row ON users;
CREATE POLICY users_own_row ON users TO americano_app
    USING (id = (SELECT americano_current_user_id()))
    WITH CHECK (id = (SELECT americano_current_user_id()));

DROP POLICY context_metadata_own_rows ON context_metadata;
CREATE POLICY context_metadata_own_rows ON context_metadata TO americano_app
    USING (user_id = (SELECT americano_current_user_id()))
    WITH CHECK (user_id = (SELECT americano_current_user_id()));

DROP POLICY behavioral_events_own_rows ON behavioral_events;
CREATE POLICY behavioral_events_own_rows ON behavioral_events TO americano_app
    USING (user_id = (SELECT americano_current_user_id()))
    WITH CHECK (user_id = (SELECT americano_current_user_id()));

DROP POLICY experiment_protocols_own_rows ON experiment_protocols;
CREATE POLICY experiment_protocols_own_rows ON experiment_protocols TO americano_app
    USING (user_id = (SELECT americano_current_user_id()))
    WITH CHECK (user_id = (SELECT americano_current_user_id()));

DROP POLICY wearable_records_own_rows ON wearable_records;
CREATE POLICY wearable_records_own_rows ON wearable_records TO americano_app
    USING (user_id = (SELECT americano_current_user_id()))
    WITH CHECK (user_id = (SELECT americano_current_user_id()));

DROP POLICY wearable_connections_own_rows ON wearable_connections;
CREATE POLICY wearable_connections_own_rows ON wearable_connections TO americano_app
    USING (user_id = (SELECT americano_current_user_id()))
    WITH CHECK (user_id = (SELECT americano_current_user_id()));

-- Whether the statement runs as the tables' owner (or a superuser): the migrating role loads
-- history (the demo study) with its own registration times; the application role cannot.
CREATE FUNCTION americano_is_table_owner() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.pg_has_role(
        current_user,
        (SELECT c.relowner FROM pg_catalog.pg_class c
          WHERE c.oid = 'public.experiment_protocols'::pg_catalog.regclass),
        'USAGE')
$$;

-- ----------------------------------------------------------------------------- 3. events

ALTER TABLE context_metadata ADD CONSTRAINT context_metadata_user_id_id_key UNIQUE (user_id, id);
ALTER TABLE behavioral_events DROP CONSTRAINT IF EXISTS behavioral_events_context_metadata_id_fkey;
ALTER TABLE behavioral_events ADD CONSTRAINT behavioral_events_context_metadata_fkey
    FOREIGN KEY (user_id, context_metadata_id) REFERENCES context_metadata (user_id, id);

-- ----------------------------------------------------------------------------- 4. registration

-- A deviation: {"timestamp": ISO 8601 with zone, "reason": text, "description": text, ...};
-- optional "phase" and "actualEndDate" (YYYY-MM-DD) record when a phase really ended.
CREATE FUNCTION americano_valid_deviation(entry jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_typeof(entry) = 'object'
       AND jsonb_typeof(entry -> 'timestamp') = 'string'
       AND (entry ->> 'timestamp') ~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$'
       AND jsonb_typeof(entry -> 'reason') = 'string'
       AND length(btrim(entry ->> 'reason')) > 0
       AND jsonb_typeof(entry -> 'description') = 'string'
       AND length(btrim(entry ->> 'description')) > 0
       AND (NOT entry ? 'actualEndDate'
            OR (jsonb_typeof(entry -> 'actualEndDate') = 'string'
                AND (entry ->> 'actualEndDate') ~ '^\d{4}-\d{2}-\d{2}$'))
$$;

CREATE FUNCTION americano_valid_deviations(entries jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_typeof(entries) = 'array'
       AND NOT EXISTS (
           SELECT 1 FROM jsonb_array_elements(entries) AS d(entry)
            WHERE NOT coalesce(public.americano_valid_deviation(d.entry), false)
       )
$$;

-- Each new constraint is added NOT VALID (enforced for every new or changed row) and then
-- validated; a database whose old rows break one keeps it NOT VALID and says so.
ALTER TABLE experiment_protocols
    ADD CONSTRAINT experiment_protocols_deviations_valid
        CHECK (americano_valid_deviations(deviations)) NOT VALID,
    ADD CONSTRAINT experiment_protocols_consort_flow CHECK (
        coalesce(screened, eligible, enrolled, completed, 0) >= coalesce(eligible, enrolled, completed, 0)
        AND coalesce(eligible, enrolled, completed, 0) >= coalesce(enrolled, completed, 0)
        AND coalesce(enrolled, completed, 0) >= coalesce(completed, 0)
    ) NOT VALID,
    -- A day of slack: the registration day is the user's, in their time zone (UTC-12..+14).
    ADD CONSTRAINT experiment_protocols_starts_after_registration
        CHECK (start_date >= (registered_at AT TIME ZONE 'UTC')::date - 1) NOT VALID;

DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY[
        'experiment_protocols_deviations_valid',
        'experiment_protocols_consort_flow',
        'experiment_protocols_starts_after_registration'
    ] LOOP
        BEGIN
            EXECUTE format('ALTER TABLE experiment_protocols VALIDATE CONSTRAINT %I', name);
        EXCEPTION WHEN check_violation THEN
            RAISE NOTICE 'existing rows break %; it holds for new and changed rows only', name;
        END;
    END LOOP;
END
$$;

-- Registration as the application role: the registration time is the server's, and a new
-- protocol starts with no deviations.
CREATE FUNCTION stamp_protocol_registration() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT americano_is_table_owner() THEN
        NEW.registered_at := now();
        IF NEW.deviations IS DISTINCT FROM '[]'::jsonb THEN
            RAISE EXCEPTION 'a protocol is registered without deviations; record them after registration'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER experiment_protocols_stamp_registration
    BEFORE INSERT ON experiment_protocols
    FOR EACH ROW EXECUTE FUNCTION stamp_protocol_registration();

-- Frozen now: the planned end date too. Deviations stay append-only, and each appended entry
-- gets the server's `recordedAt`.
CREATE OR REPLACE FUNCTION protect_preregistered_protocol() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    frozen text[] := ARRAY[
        'user_id', 'protocol_name', 'hypothesis', 'start_date', 'end_date', 'design_type',
        'primary_outcome', 'sample_size_target', 'analysis_plan', 'min_phase_length',
        'planned_length', 'interim_looks', 'alpha', 'randomization_seed', 'registered_at'
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

-- A phase belongs to the registration: it can be added only in the transaction that registers
-- its protocol (the protocol's registration time is that transaction's start), and nothing of
-- it changes afterwards. An actual end is recorded as a deviation.
CREATE FUNCTION protect_preregistered_phase_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    registered timestamptz;
BEGIN
    IF americano_is_table_owner() THEN
        RETURN NEW;
    END IF;
    SELECT p.registered_at INTO registered FROM experiment_protocols p WHERE p.id = NEW.protocol_id;
    -- A protocol the session cannot see is left to row-level security to refuse.
    IF registered IS NOT NULL AND registered <> now() THEN
        RAISE EXCEPTION 'protocol % is registered: its schedule is frozen and no phase can be added; record a deviation instead', NEW.protocol_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER phase_assignments_registered_schedule
    BEFORE INSERT ON phase_assignments
    FOR EACH ROW EXECUTE FUNCTION protect_preregistered_phase_insert();

CREATE OR REPLACE FUNCTION protect_preregistered_phase() RETURNS trigger
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
    old_row := to_jsonb(OLD);
    new_row := to_jsonb(NEW);
    FOR field IN SELECT jsonb_object_keys(old_row) LOOP
        IF old_row -> field IS DISTINCT FROM new_row -> field THEN
            RAISE EXCEPTION 'pre-registered field "%" of phase % cannot be edited; record a deviation instead', field, OLD.phase_label
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END LOOP;
    RETURN NEW;
END;
$$;

-- ----------------------------------------------------------------------------- 5. provenance

-- Each run of a protocol is linked to the one before it: chain_index counts from 1, and
-- row_hash = sha256 over previous_hash and every recorded field (analysis_run_digest).
-- The same digest is stored as the MLflow run's tag `americano.row_hash`, outside PostgreSQL.
ALTER TABLE analysis_runs
    ADD COLUMN chain_index bigint,
    ADD COLUMN previous_hash text,
    ADD COLUMN row_hash text;

-- Fields as text, each prefixed by its length (NULL as -1), so no two rows share a digest
-- input. Timestamps in UTC with microseconds; JSON in jsonb's own canonical text.
CREATE FUNCTION analysis_run_digest(run analysis_runs) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT encode(sha256(convert_to(string_agg(
               CASE WHEN f.value IS NULL THEN '-1:' ELSE length(f.value)::text || ':' || f.value END,
               '' ORDER BY f.ord), 'UTF8')), 'hex')
      FROM unnest(ARRAY[
               run.previous_hash,
               run.chain_index::text,
               run.id,
               run.protocol_id,
               run.run_name,
               run.analysis_type,
               run.code_commit_hash,
               run.data_version_hash,
               run.input_params::text,
               run.mlflow_run_id,
               array_to_json(run.artifact_paths)::text,
               run.results_summary::text,
               to_char(run.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               to_char(run.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
           ]) WITH ORDINALITY AS f(value, ord)
$$;

-- Older rows (before this migration) join the chain in the order they were recorded.
UPDATE analysis_runs r
   SET chain_index = ordered.n
  FROM (SELECT id, row_number() OVER (PARTITION BY protocol_id ORDER BY started_at, id) AS n
          FROM analysis_runs) ordered
 WHERE ordered.id = r.id;

DO $$
DECLARE
    run analysis_runs;
    previous text;
    last_protocol text;
BEGIN
    FOR run IN SELECT * FROM analysis_runs ORDER BY protocol_id, chain_index LOOP
        IF run.protocol_id IS DISTINCT FROM last_protocol THEN
            previous := NULL;
            last_protocol := run.protocol_id;
        END IF;
        run.previous_hash := previous;
        run.row_hash := analysis_run_digest(run);
        UPDATE analysis_runs
           SET previous_hash = run.previous_hash, row_hash = run.row_hash
         WHERE id = run.id;
        previous := run.row_hash;
    END LOOP;
END
$$;

ALTER TABLE analysis_runs
    ALTER COLUMN chain_index SET NOT NULL,
    ALTER COLUMN row_hash SET NOT NULL,
    ADD CONSTRAINT analysis_runs_chain_unique UNIQUE (protocol_id, chain_index);

-- The chain is computed here, never taken from the writer. One protocol's runs are appended
-- one at a time (an advisory lock per protocol), so two concurrent runs cannot fork it.
CREATE FUNCTION chain_analysis_run() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    last analysis_runs;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('analysis_runs/' || NEW.protocol_id, 0));
    SELECT * INTO last FROM analysis_runs
     WHERE protocol_id = NEW.protocol_id ORDER BY chain_index DESC LIMIT 1;
    NEW.chain_index := coalesce(last.chain_index, 0) + 1;
    NEW.previous_hash := last.row_hash;
    NEW.row_hash := analysis_run_digest(NEW);
    RETURN NEW;
END;
$$;

CREATE TRIGGER analysis_runs_chain
    BEFORE INSERT ON analysis_runs
    FOR EACH ROW EXECUTE FUNCTION chain_analysis_run();

CREATE FUNCTION forbid_analysis_run_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'analysis_runs is append-only: a recorded run cannot be changed or deleted; record a new run instead'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER analysis_runs_append_only
    BEFORE UPDATE OR DELETE ON analysis_runs
    FOR EACH ROW EXECUTE FUNCTION forbid_analysis_run_change();

CREATE TRIGGER analysis_runs_no_truncate
    BEFORE TRUNCATE ON analysis_runs
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_analysis_run_change();

REVOKE UPDATE, DELETE, TRUNCATE ON analysis_runs FROM americano_app;

DROP POLICY analysis_runs_own_rows ON analysis_runs;
CREATE POLICY analysis_runs_own_rows ON analysis_runs FOR SELECT TO americano_app
    USING (americano_owns_protocol(protocol_id));
CREATE POLICY analysis_runs_own_inserts ON analysis_runs FOR INSERT TO americano_app
    WITH CHECK (americano_owns_protocol(protocol_id));

-- Row-level security. The study app and the CLI act as `americano_app` with the session setting
-- `americano.user_id`; they see, insert, change and delete only that user's rows. Extraction
-- acts as `americano_extract`, which reads everything and writes nothing. RLS is forced so the
-- table owner gets no silent exemption either (superusers still bypass it, as PostgreSQL does).
-- Roles are cluster-wide, so they are created only when missing.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'americano_app') THEN
        CREATE ROLE americano_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'americano_extract') THEN
        CREATE ROLE americano_extract NOLOGIN BYPASSRLS;
    END IF;
END
$$;

-- The user a session acts for; NULL (no rows) when unset.
CREATE FUNCTION americano_current_user_id() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('americano.user_id', true), '') $$;

-- A protocol's children follow its owner. SECURITY DEFINER so the check itself is not filtered
-- twice; it only answers whether the protocol belongs to the session's user.
CREATE FUNCTION americano_owns_protocol(protocol text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT EXISTS (
        SELECT 1 FROM public.experiment_protocols p
         WHERE p.id = protocol AND p.user_id = public.americano_current_user_id()
    )
$$;

GRANT USAGE ON SCHEMA public TO americano_app, americano_extract;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO americano_extract;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    users, context_metadata, behavioral_events, experiment_protocols, phase_assignments,
    analysis_runs, wearable_records, wearable_connections
    TO americano_app;
GRANT EXECUTE ON FUNCTION americano_current_user_id(), americano_owns_protocol(text)
    TO americano_app, americano_extract;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_own_row ON users TO americano_app
    USING (id = americano_current_user_id())
    WITH CHECK (id = americano_current_user_id());

ALTER TABLE context_metadata ENABLE ROW LEVEL SECURITY;
ALTER TABLE context_metadata FORCE ROW LEVEL SECURITY;
CREATE POLICY context_metadata_own_rows ON context_metadata TO americano_app
    USING (user_id = americano_current_user_id())
    WITH CHECK (user_id = americano_current_user_id());

ALTER TABLE behavioral_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE behavioral_events FORCE ROW LEVEL SECURITY;
CREATE POLICY behavioral_events_own_rows ON behavioral_events TO americano_app
    USING (user_id = americano_current_user_id())
    WITH CHECK (user_id = americano_current_user_id());

ALTER TABLE experiment_protocols ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiment_protocols FORCE ROW LEVEL SECURITY;
CREATE POLICY experiment_protocols_own_rows ON experiment_protocols TO americano_app
    USING (user_id = americano_current_user_id())
    WITH CHECK (user_id = americano_current_user_id());

ALTER TABLE phase_assignments ENABLE ROW LEVEL SECURITY;
ALTER TABLE phase_assignments FORCE ROW LEVEL SECURITY;
CREATE POLICY phase_assignments_own_rows ON phase_assignments TO americano_app
    USING (americano_owns_protocol(protocol_id))
    WITH CHECK (americano_owns_protocol(protocol_id));

ALTER TABLE analysis_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE analysis_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY analysis_runs_own_rows ON analysis_runs TO americano_app
    USING (americano_owns_protocol(protocol_id))
    WITH CHECK (americano_owns_protocol(protocol_id));

ALTER TABLE wearable_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE wearable_records FORCE ROW LEVEL SECURITY;
CREATE POLICY wearable_records_own_rows ON wearable_records TO americano_app
    USING (user_id = americano_current_user_id())
    WITH CHECK (user_id = americano_current_user_id());

ALTER TABLE wearable_connections ENABLE ROW LEVEL SECURITY;
ALTER TABLE wearable_connections FORCE ROW LEVEL SECURITY;
CREATE POLICY wearable_connections_own_rows ON wearable_connections TO americano_app
    USING (user_id = americano_current_user_id())
    WITH CHECK (user_id = americano_current_user_id());

-- The extraction role may read everything (BYPASSRLS), but make that explicit for servers where
-- the migrating user cannot grant BYPASSRLS: a read-all policy per table.
CREATE POLICY users_extract_all ON users FOR SELECT TO americano_extract USING (true);
CREATE POLICY context_metadata_extract_all ON context_metadata FOR SELECT TO americano_extract USING (true);
CREATE POLICY behavioral_events_extract_all ON behavioral_events FOR SELECT TO americano_extract USING (true);
CREATE POLICY experiment_protocols_extract_all ON experiment_protocols FOR SELECT TO americano_extract USING (true);
CREATE POLICY phase_assignments_extract_all ON phase_assignments FOR SELECT TO americano_extract USING (true);
CREATE POLICY analysis_runs_extract_all ON analysis_runs FOR SELECT TO americano_extract USING (true);
CREATE POLICY wearable_records_extract_all ON wearable_records FOR SELECT TO americano_extract USING (true);
CREATE POLICY wearable_connections_extract_all ON wearable_connections FOR SELECT TO americano_extract USING (true);

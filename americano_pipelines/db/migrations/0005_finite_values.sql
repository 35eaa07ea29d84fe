-- Timestamps, dates and floating-point values are finite. One event stamped 'infinity' broke
-- every extraction, and a NaN wearable value reached the marts while every check passed.
--
-- Every timestamp, date, double precision and real column of the tables in `public` (those of
-- every earlier migration) gets a CHECK named <table>_<column>_finite. Each is added NOT VALID,
-- which binds every new or updated row at once, and then validated against the rows already
-- there. When old rows violate it, it stays NOT VALID with a NOTICE, so this migration never
-- fails on existing data; extraction quarantines those rows (db/extract.py). A later
-- `ALTER TABLE … VALIDATE CONSTRAINT` succeeds once they are fixed.
--
-- PostgreSQL treats NaN as equal to itself (and larger than every number), so NOT IN refuses
-- NaN as well as ±Infinity; NULL passes, as CHECKs let it.

DO $$
DECLARE
    col record;
    check_name text;
BEGIN
    FOR col IN
        SELECT c.table_name, c.column_name, c.data_type
          FROM information_schema.columns AS c
          JOIN information_schema.tables AS t USING (table_schema, table_name)
         WHERE c.table_schema = 'public'
           AND t.table_type = 'BASE TABLE'
           AND c.table_name <> 'schema_migrations'
           AND c.data_type IN ('timestamp with time zone', 'timestamp without time zone', 'date',
                               'double precision', 'real')
         ORDER BY c.table_name, c.ordinal_position
    LOOP
        check_name := col.table_name || '_' || col.column_name || '_finite';
        EXECUTE format(
            'ALTER TABLE %I ADD CONSTRAINT %I CHECK (%s) NOT VALID',
            col.table_name, check_name,
            CASE WHEN col.data_type IN ('double precision', 'real')
                 THEN format('%I NOT IN (''NaN'', ''Infinity'', ''-Infinity'')', col.column_name)
                 ELSE format('isfinite(%I)', col.column_name)
            END);
        BEGIN
            EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', col.table_name, check_name);
        EXCEPTION WHEN check_violation THEN
            RAISE NOTICE 'constraint % left NOT VALID: rows already in % violate it (extraction quarantines them)',
                check_name, col.table_name;
        END;
    END LOOP;
END
$$;

-- Every Record (and Correlation) of an Apple Health export, as the export wrote it, so nothing
-- is lost: an export holds millions of samples (heart rate every few minutes), far more than the
-- daily measures read from them, which go to wearable_records (provider APPLE_HEALTH) like
-- Oura's and WHOOP's. The key is the user and a hash of the record's identifying attributes
-- (americano_pipelines/wearables/apple_health.py), so importing an export again inserts nothing.
CREATE TABLE apple_health_records (
    user_id             text NOT NULL REFERENCES users (id),
    source_record_id    text NOT NULL,
    element             text NOT NULL CHECK (element IN ('Record', 'Correlation')),
    record_type         text NOT NULL,
    -- the local date of start_date, in the offset the export wrote
    day                 date NOT NULL,
    start_date          timestamptz NOT NULL,
    -- start_date's offset from UTC as written ('-0800'), which timestamptz does not keep
    utc_offset          text NOT NULL,
    end_date            timestamptz,
    creation_date       timestamptz,
    value               text,
    numeric_value       double precision,
    unit                text,
    source_name         text,
    source_version      text,
    device              text,
    -- MetadataEntry children, the HRV beat-to-beat list, any other attribute
    details             jsonb,
    imported_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, source_record_id),
    -- finite dates and values, as migration 0005 gave every earlier table
    CONSTRAINT apple_health_records_day_finite CHECK (isfinite(day)),
    CONSTRAINT apple_health_records_start_date_finite CHECK (isfinite(start_date)),
    CONSTRAINT apple_health_records_end_date_finite CHECK (isfinite(end_date)),
    CONSTRAINT apple_health_records_creation_date_finite CHECK (isfinite(creation_date)),
    CONSTRAINT apple_health_records_numeric_value_finite
        CHECK (numeric_value NOT IN ('NaN', 'Infinity', '-Infinity')),
    CONSTRAINT apple_health_records_imported_at_finite CHECK (isfinite(imported_at))
);
CREATE INDEX apple_health_records_user_type_day_idx
    ON apple_health_records (user_id, record_type, day);

GRANT SELECT, INSERT, UPDATE, DELETE ON apple_health_records TO americano_app;
GRANT SELECT ON apple_health_records TO americano_extract;
ALTER TABLE apple_health_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE apple_health_records FORCE ROW LEVEL SECURITY;
CREATE POLICY apple_health_records_own_rows ON apple_health_records TO americano_app
    USING (user_id = (SELECT americano_current_user_id()))
    WITH CHECK (user_id = (SELECT americano_current_user_id()));
CREATE POLICY apple_health_records_extract_all ON apple_health_records
    FOR SELECT TO americano_extract USING (true);

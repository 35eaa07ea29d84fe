-- Wearable sync state (issue 11): when each connection last synced and had its tokens rotated,
-- and one cursor per user, provider and resource, so that a killed sync resumes where it
-- stopped. The records themselves stay in wearable_records (0001), one row per provider
-- document with the document as payload.

ALTER TABLE wearable_connections
    ADD COLUMN last_synced_at timestamptz,
    ADD COLUMN tokens_rotated_at timestamptz,
    -- finite timestamps, as migration 0005 gave every earlier column
    ADD CONSTRAINT wearable_connections_last_synced_at_finite CHECK (isfinite(last_synced_at)),
    ADD CONSTRAINT wearable_connections_tokens_rotated_at_finite
        CHECK (isfinite(tokens_rotated_at));

-- A sync of [range_start, range_end] walks windows of at most 30 days in order. Each page of a
-- window is stored in the same transaction as the cursor that moves past it: `window_start`
-- and `next_token` say which page comes next, `done_through` the last day of the last window
-- stored whole. `completed_at` is set when the whole range is done; `synced_through` is the
-- latest day any completed sync covered (where the daily schedule starts).
CREATE TABLE wearable_sync_cursors (
    user_id         text NOT NULL REFERENCES users (id),
    provider        wearable_provider NOT NULL,
    resource        text NOT NULL,
    range_start     date NOT NULL,
    range_end       date NOT NULL CHECK (range_end >= range_start),
    window_start    date,
    next_token      text,
    done_through    date,
    completed_at    timestamptz,
    synced_through  date,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wearable_sync_cursors_range_start_finite CHECK (isfinite(range_start)),
    CONSTRAINT wearable_sync_cursors_range_end_finite CHECK (isfinite(range_end)),
    CONSTRAINT wearable_sync_cursors_window_start_finite CHECK (isfinite(window_start)),
    CONSTRAINT wearable_sync_cursors_done_through_finite CHECK (isfinite(done_through)),
    CONSTRAINT wearable_sync_cursors_completed_at_finite CHECK (isfinite(completed_at)),
    CONSTRAINT wearable_sync_cursors_synced_through_finite CHECK (isfinite(synced_through)),
    CONSTRAINT wearable_sync_cursors_updated_at_finite CHECK (isfinite(updated_at)),
    PRIMARY KEY (user_id, provider, resource),
    FOREIGN KEY (user_id, provider) REFERENCES wearable_connections (user_id, provider)
        ON DELETE CASCADE
);

GRANT SELECT, INSERT, UPDATE, DELETE ON wearable_sync_cursors TO americano_app;
GRANT SELECT ON wearable_sync_cursors TO americano_extract;
ALTER TABLE wearable_sync_cursors ENABLE ROW LEVEL SECURITY;
ALTER TABLE wearable_sync_cursors FORCE ROW LEVEL SECURITY;
CREATE POLICY wearable_sync_cursors_own_rows ON wearable_sync_cursors TO americano_app
    USING (user_id = (SELECT americano_current_user_id()))
    WITH CHECK (user_id = (SELECT americano_current_user_id()));
CREATE POLICY wearable_sync_cursors_extract_all ON wearable_sync_cursors FOR SELECT
    TO americano_extract USING (true);

-- Core OLTP schema: the original guide's data model (users, behavioral events with experiment
-- tracking and context links, pre-registered protocols and their phases, context metadata,
-- analysis provenance) plus raw wearable records. Enums and ranges are enforced here, so every
-- writer (study app, CLI, wearable sync) gets the same guarantees.

CREATE TYPE event_type AS ENUM (
    'SESSION_STARTED', 'SESSION_ENDED', 'CARD_REVIEWED', 'QUIZ_COMPLETED', 'LECTURE_VIEWED'
);
CREATE TYPE completion_quality AS ENUM ('RUSHED', 'NORMAL', 'THOROUGH');
CREATE TYPE engagement_level AS ENUM ('LOW', 'MEDIUM', 'HIGH');
CREATE TYPE experiment_design_type AS ENUM (
    'ABAB', 'MULTIPLE_BASELINE', 'ALTERNATING', 'CHANGING_CRITERION'
);
CREATE TYPE phase_type AS ENUM ('BASELINE', 'INTERVENTION_A', 'INTERVENTION_B', 'WASHOUT');
CREATE TYPE mood_level AS ENUM ('LOW', 'MEDIUM', 'HIGH');
CREATE TYPE location_type AS ENUM ('HOME', 'LIBRARY', 'CAFE', 'CAMPUS', 'OTHER');
CREATE TYPE wearable_provider AS ENUM ('OURA', 'WHOOP', 'APPLE_HEALTH');

CREATE TABLE users (
    id          text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    email       text NOT NULL UNIQUE CHECK (position('@' in email) > 1),
    display_name text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE context_metadata (
    id                  text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    user_id             text NOT NULL REFERENCES users (id),
    "timestamp"         timestamptz NOT NULL DEFAULT now(),
    mood                mood_level NOT NULL,
    energy_level        integer NOT NULL DEFAULT 5 CHECK (energy_level BETWEEN 1 AND 10),
    location            location_type NOT NULL,
    notes               text,
    sleep_hours         double precision CHECK (sleep_hours BETWEEN 0 AND 24),
    sleep_quality       integer CHECK (sleep_quality BETWEEN 1 AND 10),
    hrv_score           integer CHECK (hrv_score BETWEEN 1 AND 500),
    resting_heart_rate  integer CHECK (resting_heart_rate BETWEEN 20 AND 250),
    activity_strain     double precision CHECK (activity_strain BETWEEN 0 AND 21)
);
CREATE INDEX context_metadata_user_id_timestamp_idx ON context_metadata (user_id, "timestamp");

CREATE TABLE behavioral_events (
    id                        text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    user_id                   text NOT NULL REFERENCES users (id),
    event_type                event_type NOT NULL,
    event_data                jsonb NOT NULL DEFAULT '{}'::jsonb,
    "timestamp"               timestamptz NOT NULL DEFAULT now(),
    completion_quality        completion_quality,
    content_type              text,
    day_of_week               integer CHECK (day_of_week BETWEEN 0 AND 6),
    difficulty_level          text,
    engagement_level          engagement_level,
    session_performance_score integer CHECK (session_performance_score BETWEEN 0 AND 100),
    time_of_day               integer CHECK (time_of_day BETWEEN 0 AND 23),
    experiment_phase          text,
    randomization_seed        integer,
    context_metadata_id       text REFERENCES context_metadata (id)
);
CREATE INDEX behavioral_events_user_id_idx ON behavioral_events (user_id);
CREATE INDEX behavioral_events_event_type_idx ON behavioral_events (event_type);
CREATE INDEX behavioral_events_timestamp_idx ON behavioral_events ("timestamp");
CREATE INDEX behavioral_events_user_type_time_idx
    ON behavioral_events (user_id, event_type, "timestamp");
CREATE INDEX behavioral_events_user_day_of_week_idx ON behavioral_events (user_id, day_of_week);
CREATE INDEX behavioral_events_user_time_of_day_idx ON behavioral_events (user_id, time_of_day);
CREATE INDEX behavioral_events_experiment_phase_idx ON behavioral_events (experiment_phase);

CREATE TABLE experiment_protocols (
    id                  text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    user_id             text NOT NULL REFERENCES users (id),
    protocol_name       text NOT NULL CHECK (length(protocol_name) > 0),
    hypothesis          text NOT NULL CHECK (length(hypothesis) > 0),
    start_date          date NOT NULL,
    end_date            date CHECK (end_date IS NULL OR end_date >= start_date),
    -- CENT/SPIRIT pre-registration
    design_type         experiment_design_type NOT NULL,
    primary_outcome     text NOT NULL CHECK (length(primary_outcome) > 0),
    sample_size_target  integer NOT NULL CHECK (sample_size_target > 0),
    analysis_plan       text NOT NULL CHECK (length(analysis_plan) > 0),
    min_phase_length    integer NOT NULL DEFAULT 3 CHECK (min_phase_length > 0),
    planned_length      integer CHECK (planned_length > 0),
    interim_looks       integer NOT NULL DEFAULT 0 CHECK (interim_looks >= 0),
    alpha               double precision NOT NULL DEFAULT 0.05 CHECK (alpha > 0 AND alpha < 1),
    randomization_seed  integer,
    registered_at       timestamptz NOT NULL DEFAULT now(),
    -- append-only log of departures from the plan: [{"date", "description", ...}, ...]
    deviations          jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(deviations) = 'array'),
    -- CONSORT flow
    screened            integer CHECK (screened >= 0),
    eligible            integer CHECK (eligible >= 0),
    enrolled            integer CHECK (enrolled >= 0),
    completed           integer CHECK (completed >= 0)
);
CREATE INDEX experiment_protocols_user_id_idx ON experiment_protocols (user_id);
CREATE INDEX experiment_protocols_start_date_idx ON experiment_protocols (start_date);

CREATE TABLE phase_assignments (
    id                  text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    protocol_id         text NOT NULL REFERENCES experiment_protocols (id),
    phase_label         text NOT NULL CHECK (length(phase_label) > 0),
    phase_type          phase_type NOT NULL,
    start_date          date NOT NULL,
    end_date            date CHECK (end_date IS NULL OR end_date >= start_date),
    planned_duration    integer NOT NULL CHECK (planned_duration > 0),
    randomization_seed  integer NOT NULL,
    intervention_params jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (protocol_id, phase_label)
);
CREATE INDEX phase_assignments_protocol_id_idx ON phase_assignments (protocol_id);
CREATE INDEX phase_assignments_start_date_idx ON phase_assignments (start_date);

CREATE TABLE analysis_runs (
    id                  text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    protocol_id         text NOT NULL REFERENCES experiment_protocols (id),
    run_name            text NOT NULL,
    analysis_type       text NOT NULL,
    code_commit_hash    text NOT NULL,
    data_version_hash   text NOT NULL,
    input_params        jsonb NOT NULL DEFAULT '{}'::jsonb,
    mlflow_run_id       text,
    artifact_paths      text[] NOT NULL DEFAULT '{}',
    results_summary     jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_at          timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz
);
CREATE INDEX analysis_runs_protocol_id_idx ON analysis_runs (protocol_id);
CREATE INDEX analysis_runs_started_at_idx ON analysis_runs (started_at);

-- One row per provider record (an Oura daily sleep, a WHOOP recovery, an Apple Health sample),
-- kept as the provider sent it plus the value we read from it. Re-syncing upserts on the
-- provider's own id, so a window can be fetched twice without duplicates.
CREATE TABLE wearable_records (
    id                  text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    user_id             text NOT NULL REFERENCES users (id),
    provider            wearable_provider NOT NULL,
    record_type         text NOT NULL,
    source_record_id    text NOT NULL,
    day                 date NOT NULL,
    started_at          timestamptz,
    ended_at            timestamptz,
    value               double precision,
    unit                text,
    payload             jsonb NOT NULL DEFAULT '{}'::jsonb,
    fetched_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, provider, record_type, source_record_id)
);
CREATE INDEX wearable_records_user_day_idx ON wearable_records (user_id, day);

-- OAuth tokens, encrypted by the application before they reach the database.
CREATE TABLE wearable_connections (
    user_id             text NOT NULL REFERENCES users (id),
    provider            wearable_provider NOT NULL,
    access_token_enc    bytea NOT NULL,
    refresh_token_enc   bytea,
    expires_at          timestamptz,
    scopes              text[] NOT NULL DEFAULT '{}',
    connected_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, provider)
);

-- The per-week result files of analyses.drift_columns, read where they lie: a new file is in the view
-- as soon as it is written, with no build.
select * from {{ source('analyses', 'drift_columns') }}

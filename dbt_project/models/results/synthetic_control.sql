-- The per-protocol result files of analyses.synthetic_control, read where they lie: a new file is in the view
-- as soon as it is written, with no build.
select * from {{ source('analyses', 'synthetic_control') }}

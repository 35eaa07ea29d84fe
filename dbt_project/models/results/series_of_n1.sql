-- The per-protocol result files of analyses.series_of_n1, read where they lie: a new file is in the view
-- as soon as it is written, with no build.
select * from {{ source('analyses', 'series_of_n1') }}

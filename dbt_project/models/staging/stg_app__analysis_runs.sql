select
    id as analysis_run_id,
    protocol_id,
    run_name,
    analysis_type,
    code_commit_hash,
    data_version_hash,
    cast(input_params as json) as input_params,
    mlflow_run_id,
    artifact_paths,
    cast(results_summary as json) as results_summary,
    started_at,
    completed_at,
    chain_index,
    row_hash
from {{ source('provenance', 'analysis_runs') }}

-- Grain: protocol × case × day with an observation of the protocol's primary outcome (one case,
-- 'all', except in multiple-baseline designs). The input of the
-- single-case analyses: rows in time order give the phase sequence and the measured values.
select
    d.protocol_id,
    d.user_id,
    d.case_name,
    d.phase_label,
    d.phase_type,
    d.phase_index,
    d.condition,
    d.protocol_date as observation_date,
    row_number() over (partition by d.protocol_id, d.case_name order by d.protocol_date) as observation_index,
    d.primary_outcome as metric,
    m.value
from {{ ref('int_protocol_days') }} as d
inner join {{ ref('daily_metrics') }} as m
    on m.user_id = d.user_id
    and m.metric = d.primary_outcome
    and m.metric_date = d.protocol_date
where m.value is not null

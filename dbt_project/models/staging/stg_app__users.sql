select
    id as user_id,
    email,
    display_name,
    created_at
from {{ source('raw', 'users') }}

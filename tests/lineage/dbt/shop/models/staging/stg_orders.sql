with events as (
    select * from {{ source('raw', 'orders') }}
)
select e.id, e.customer_id, e.amount, r.region
from events e
join {{ ref('regions') }} r on r.code = e.region_code

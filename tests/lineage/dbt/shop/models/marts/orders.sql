{{ config(alias='fct_orders') }}
select o.*, c.name as customer_name
from {{ ref('stg_orders') }} o
join {{ ref('stg_customers') }} c on c.id = o.customer_id

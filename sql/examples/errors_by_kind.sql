-- why requests failed in the last 7 days, by kind and source
select error_kind, source, count(*) as failures, any_value(error) as example
from fetches
where error is not null and started_at >= now() - interval 7 day
group by all
order by failures desc;

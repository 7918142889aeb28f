-- fetch_errors: one row per failed HTTP request, newest first, with its reason
create or replace view fetch_errors as
select
    started_at,
    source,
    purpose,
    url,
    status_code,
    error_kind,
    error,
    attempts,
    run_id
from fetches
where error is not null
order by started_at desc;

-- runs_latest: one row per flow run, newest first
create or replace view runs_latest as
select
    run_id,
    flow,
    started_at,
    finished_at,
    status,
    date_diff('millisecond', started_at, finished_at) / 1000.0 as seconds,
    stats,
    error
from runs
order by started_at desc;

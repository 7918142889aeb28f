-- subscriber_backlog: one row per subscriber (as saved by the last run): what is waiting for the
-- next digest (including items a digest counted as "and N more" but did not list: those are never
-- marked sent), and when the last one went out
create or replace view subscriber_backlog as
with pending as (
    select
        subscriber,
        count(*) as pending_items,
        min(sort_at) as oldest_pending_at,
        max(sort_at) as newest_pending_at
    from pending_digest_items
    group by subscriber
),
history as (
    select
        subscriber,
        max(created_at) filter (where status in ('sent', 'empty', 'skipped_empty')) as last_digest_at,
        max(sent_at) as last_sent_at,
        count(*) filter (where status in ('failed', 'partial') and created_at >= now() - interval 7 day) as failed_7d
    from digests
    group by subscriber
)
select
    s.subscriber,
    s.cadence,
    coalesce(p.pending_items, 0) as pending_items,
    p.oldest_pending_at,
    p.newest_pending_at,
    h.last_digest_at,
    h.last_sent_at,
    coalesce(h.failed_7d, 0) as failed_7d
from subscribers as s
left join pending as p using (subscriber)
left join history as h using (subscriber)
order by s.subscriber;

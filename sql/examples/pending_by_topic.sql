-- grain: one row per (subscriber, topic): items waiting for the next digest, as of the last run's
-- subscribers (see the view pending_digest_items)
select
    subscriber,
    topic,
    count(*) as pending_items,
    min(sort_at) as oldest,
    max(sort_at) as newest
from pending_digest_items
group by subscriber, topic
order by subscriber, pending_items desc;

-- grain: one row per article sent to a subscriber in the last 7 days, newest first.
-- Run: duckdb -readonly data/newswatch.duckdb < sql/examples/what_we_sent.sql
select
    sent_at,
    subscriber,
    topic,
    round(score, 2) as score,
    case when folded_into is not null then 'duplicate' when not is_listed then 'counted' else 'listed' end as shown_as,
    title,
    url
from digest_log
where sent_at >= now() - interval 7 day
order by sent_at desc, subscriber, position nulls last;

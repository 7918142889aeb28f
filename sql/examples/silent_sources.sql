-- grain: one row per enabled source that published in the last 28 days but not in the last 7
-- (it may have changed its feed URL or layout), quietest first
select
    source,
    url,
    articles_7d,
    weekly_norm_28d,
    last_article_at,
    last_success_at,
    date_diff('day', last_article_at, now()) as days_silent
from source_health
where status = 'silent'
order by days_silent desc;

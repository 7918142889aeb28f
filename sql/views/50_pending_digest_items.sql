-- pending_digest_items: one row per (subscriber, article) that matched one of the subscriber's
-- topics and was never claimed or sent to them; `topic` is the article's best-scoring match.
-- Topics and thresholds come from `subscribers` (alerts.yaml as saved by the last run). Counts
-- are before duplicate folding and max_items, so a digest may list fewer.
create or replace view pending_digest_items as
with candidates as (
    select
        s.subscriber,
        t.article_id,
        t.topic,
        t.score,
        coalesce(a.published_at, a.fetched_at) as sort_at,
        a.source,
        a.title,
        a.url,
        sa.story_id  -- null until a digest run assigned the article its story (table `stories`)
    from subscribers as s
    join article_topics as t
        on t.is_match
        and t.score >= coalesce(s.min_score, 0)
        and (list_contains(s.topics, '*') or list_contains(s.topics, t.topic))
    join articles as a on a.article_id = t.article_id
    left join story_articles as sa on sa.article_id = t.article_id
    where coalesce(a.published_at, a.fetched_at) >= now() - to_seconds(s.max_age_days * 86400)
        and not exists (
            select 1 from sent_items as si
            where si.subscriber = s.subscriber and si.article_id = t.article_id
        )
)
select *
from candidates
qualify row_number() over (partition by subscriber, article_id order by score desc, topic) = 1;

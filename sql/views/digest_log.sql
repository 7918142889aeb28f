-- grain: one row per article a sent digest carried to a subscriber: listed items, reports folded
-- under them, update lines ("also reported by ..."), and `known` reports (later reports of a story
-- already sent: recorded as handled, not shown). Items beyond max_items are not here: they stay
-- pending. `story_id` is the stored story (table `stories`) each item belonged to.
-- "What did we send, to whom, when, about which story".
create or replace view digest_log as
with sent as (
    select digest_id, subscriber, target, sent_at, subject
    from digests
    where status = 'sent'
)
select
    sent.sent_at,
    sent.subscriber,
    sent.target,
    sent.digest_id,
    items.topic,
    items.score,
    items.position,
    items.is_listed,
    items.folded_into,
    coalesce(ds.kind, case when items.folded_into is not null then 'folded' else 'listed' end) as kind,
    ds.story_id,
    articles.article_id,
    articles.title,
    articles.url,
    articles.source,
    articles.lang,
    articles.published_at
from sent
join digest_items as items on items.digest_id = sent.digest_id
left join digest_item_stories as ds on ds.digest_id = items.digest_id and ds.article_id = items.article_id
join articles on articles.article_id = items.article_id;

-- grain: one row per article delivered to a subscriber (sent digests only; folded duplicates
-- and "and N more" items included, flagged). "What did we send, to whom, when".
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
    articles.article_id,
    articles.title,
    articles.url,
    articles.source,
    articles.lang,
    articles.published_at
from sent
join digest_items as items on items.digest_id = sent.digest_id
join articles on articles.article_id = items.article_id;

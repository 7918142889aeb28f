-- articles_latest: one row per article, newest first by publication (else fetch) time
create or replace view articles_latest as
select
    article_id,
    coalesce(published_at, fetched_at) as sort_at,
    published_at,
    fetched_at,
    source,
    lang,
    title,
    url,
    author,
    sitename,
    extraction_method,
    word_count,
    summary,
    text
from articles
order by sort_at desc;

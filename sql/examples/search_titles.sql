-- articles whose title or text mentions a phrase (case-insensitive), newest first
select sort_at, source, lang, title, url
from articles_latest
where title ilike '%japan%' or text ilike '%japan%'
limit 50;

-- new articles fetched in the last 24 hours, per source and language
select source, lang, count(*) as articles
from articles
where fetched_at >= now() - interval 1 day
group by all
order by articles desc;

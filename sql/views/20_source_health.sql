-- source_health: one row per configured source: is it working, and is it still publishing?
create or replace view source_health as
with article_counts as (
    select
        source,
        count(*) filter (where fetched_at >= now() - interval 7 day) as articles_7d,
        count(*) filter (where fetched_at >= now() - interval 28 day) as articles_28d,
        max(fetched_at) as last_article_at
    from articles
    group by source
),
fetch_counts as (
    select
        source,
        count(*) filter (where error is not null and started_at >= now() - interval 1 day) as errors_24h,
        count(*) filter (where started_at >= now() - interval 1 day) as requests_24h
    from fetches
    group by source
)
select
    s.source,
    s.kind,
    s.url,
    s.is_enabled,
    st.last_polled_at,
    st.last_success_at,
    st.consecutive_failures,
    st.last_error,
    coalesce(a.articles_7d, 0) as articles_7d,
    round(coalesce(a.articles_28d, 0) / 4.0, 1) as weekly_norm_28d,
    a.last_article_at,
    coalesce(f.errors_24h, 0) as errors_24h,
    coalesce(f.requests_24h, 0) as requests_24h,
    case
        when not s.is_enabled then 'disabled'
        when st.last_polled_at is null then 'never polled'
        -- one failure of a source that never worked is not "degraded": it has never delivered
        when st.last_success_at is null and st.consecutive_failures > 0 then 'failing since first run'
        when st.consecutive_failures >= 3 then 'failing'
        when st.consecutive_failures > 0 then 'degraded'
        when coalesce(a.articles_28d, 0) >= 4 and coalesce(a.articles_7d, 0) = 0 then 'silent'
        else 'ok'
    end as status
from sources as s
left join source_state as st using (source)
left join article_counts as a using (source)
left join fetch_counts as f using (source);

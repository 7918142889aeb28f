-- 0004: what operations and analysts need beyond the pipeline's own tables.

-- one row per subscriber in alerts.yaml, as of the last run that saved them: lets SQL views
-- answer "what is pending for whom" (the config itself lives in YAML, not here)
create table subscribers (
    subscriber    varchar primary key,
    topics        varchar[] not null,   -- topic names, or ['*'] for every topic
    min_score     double,               -- null: each topic's own match threshold
    max_age_days  double not null,
    cadence       varchar not null,     -- e.g. "daily 07:30 Asia/Tokyo"
    updated_at    timestamptz not null default now()
);

-- one row: what the full-text index covered when it was last built (the index does not follow
-- inserts, so readers compare this with `articles` to tell when it is stale)
create table search_index (
    built_at         timestamptz not null,
    n_articles       bigint not null,
    last_updated_at  timestamptz          -- max(articles.updated_at) at build time
);

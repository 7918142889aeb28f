-- 0001: the ingest pipeline's tables. Grain is stated above each table.

-- one row per configured source (name is the key users write in sources.yaml)
create table sources (
    source          varchar primary key,
    kind            varchar not null,
    url             varchar not null,
    lang            varchar,
    is_enabled      boolean not null default true,
    config          json,
    first_seen_at   timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);

-- one row per source: conditional-GET validators and polling state
create table source_state (
    source              varchar primary key,
    etag                varchar,
    last_modified       varchar,
    body_hash           varchar,      -- detects feeds whose validators lie
    last_polled_at      timestamptz,
    last_full_fetch_at  timestamptz,  -- last unconditional 200
    last_success_at     timestamptz,
    consecutive_failures integer not null default 0,
    last_error          varchar
);

-- one row per flow run
create table runs (
    run_id        varchar primary key,
    flow          varchar not null,
    started_at    timestamptz not null,
    finished_at   timestamptz,
    status        varchar not null,   -- running | completed | failed
    stats         json,
    error         varchar
);

-- one row per HTTP request made (after retries and redirects); append-only log
create table fetches (
    fetch_id      varchar primary key,
    run_id        varchar,
    source        varchar,
    purpose       varchar not null,   -- feed | sitemap | index | article | robots
    url           varchar not null,
    final_url     varchar,
    status_code   integer,
    bytes         bigint,
    content_type  varchar,
    attempts      integer,
    started_at    timestamptz not null,
    elapsed_ms    double,
    error_kind    varchar,            -- null on success
    error         varchar             -- null on success, else the reason
);
create index fetches_url_idx on fetches (url);

-- one row per article, keyed by the hash of its canonical URL
create table articles (
    article_id        varchar primary key,
    url               varchar not null,
    fetched_url       varchar not null,
    source            varchar not null,
    title             varchar,
    author            varchar,
    sitename          varchar,
    published_at      timestamptz,
    fetched_at        timestamptz not null,
    lang              varchar,
    text              varchar not null,
    summary           varchar,
    content_hash      varchar not null,
    extraction_method varchar not null, -- trafilatura | feed_content | feed_summary
    word_count        integer,
    run_id            varchar,
    first_seen_at     timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);

-- one row per known URL (canonicalised) that leads to an article: the already-seen check
create table article_urls (
    url_id      varchar primary key,
    url         varchar not null,
    article_id  varchar not null
);

-- 0005: story identity across digests, and delivery state per target.
-- digests.status gains 'partial': some targets received it, others failed (claims released;
-- the next run retries only the failed targets).

-- one row per story: the articles that report the same news (across sources, languages, runs).
-- Written by the digest run when it first sees a matched article (newswatch.digest.stories).
create table stories (
    story_id       varchar primary key,   -- the founding article's id
    title          varchar,               -- the founding article's title
    first_seen_at  timestamptz not null,  -- earliest member's published (or fetched) time
    last_seen_at   timestamptz not null,  -- latest member's
    n_articles     integer not null,
    sources        varchar[] not null,    -- distinct sources that carried it
    languages      varchar[] not null,    -- distinct real languages of its members
    created_at     timestamptz not null
);

-- one row per article assigned to a story (an article belongs to exactly one story)
create table story_articles (
    article_id  varchar primary key,
    story_id    varchar not null,
    lang        varchar,                  -- the article's real language (its own text, not page furniture)
    how         varchar not null,         -- founded | content_hash | text | report | title | translation
    joined_at   timestamptz not null
);
create index story_articles_story_idx on story_articles (story_id);

-- one row per digest_items row written since 0005: the story the item belonged to, and how it was
-- shown (a table of its own, not new columns: each migration stands alone, on a lake too)
create table digest_item_stories (
    digest_id   varchar not null,
    article_id  varchar not null,
    story_id    varchar,
    kind        varchar not null,         -- listed | folded (under another item) | update (a later
                                          -- report of a story already sent, shown as one line) |
                                          -- known (such a report, recorded as handled, not shown)
    primary key (digest_id, article_id)
);

-- one row per (digest, delivery target): a target is one apprise URL, or one recipient of an
-- email URL with several `to=` addresses. `target` is redacted; `target_key` a hash of the URL.
create table digest_deliveries (
    digest_id     varchar not null,
    subscriber    varchar not null,
    target_key    varchar not null,
    target        varchar not null,
    status        varchar not null,       -- sent | failed | skipped (it already had every item)
    n_items       integer not null,       -- items (listed, folded, updates) sent to this target
    attempted_at  timestamptz not null,
    error         varchar,                -- redacted
    primary key (digest_id, target_key)
);

-- one row per (subscriber, target, article) delivered: a target that succeeded is never sent the
-- same article again, even while another target of the same subscriber is retried
create table target_items (
    subscriber  varchar not null,
    target_key  varchar not null,
    article_id  varchar not null,
    digest_id   varchar not null,
    sent_at     timestamptz not null,
    primary key (subscriber, target_key, article_id)
);

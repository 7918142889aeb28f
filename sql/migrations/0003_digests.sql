-- 0003: digests and the exactly-once guard. Grain is stated above each table.
-- No URL or token of a notification target is ever stored: `target` holds a redacted form
-- (subscriber's env var names and `scheme://***@host`).

-- one row per digest attempt for one subscriber (sent, failed, empty, or still sending)
create table digests (
    digest_id     varchar primary key,
    subscriber    varchar not null,
    target        varchar not null,      -- redacted, e.g. "env:NEWSWATCH_ALERT_EMAIL_URL mailto://***@host"
    cadence       varchar,
    created_at    timestamptz not null,  -- when the items were claimed
    sent_at       timestamptz,           -- when apprise reported success; null otherwise
    status        varchar not null,      -- sending | sent | failed | empty | skipped_empty | interrupted
    n_items       integer not null,      -- items listed in the digest
    n_folded      integer not null default 0,  -- duplicates listed under another item
    n_more        integer not null default 0,  -- matched beyond max_items: counted, not listed
    subject       varchar,
    error         varchar,               -- redacted failure reason
    run_id        varchar
);
create index digests_subscriber_idx on digests (subscriber, created_at);

-- one row per (digest, article): what a digest carried, including folded duplicates
create table digest_items (
    digest_id     varchar not null,
    subscriber    varchar not null,
    article_id    varchar not null,
    topic         varchar not null,      -- the section it was listed in
    score         double,
    position      integer,               -- order in the digest; null when counted, not listed
    folded_into   varchar,               -- article_id it is listed under as "also reported by"
    is_listed     boolean not null,      -- false: beyond max_items ("and N more")
    primary key (digest_id, article_id)
);

-- one row per (subscriber, article) ever claimed: the exactly-once guard. A run inserts its
-- claims (status 'claimed') before sending, so an overlapping run skips them (the primary key
-- makes a second claim fail or do nothing); success flips them to 'sent' in the same transaction
-- that marks the digest sent; a failed send deletes them so the next run retries.
create table sent_items (
    subscriber    varchar not null,
    article_id    varchar not null,
    digest_id     varchar not null,
    status        varchar not null,      -- claimed | sent
    claimed_at    timestamptz not null,
    sent_at       timestamptz,
    primary key (subscriber, article_id)
);

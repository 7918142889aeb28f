-- 0002: topic scores. One row per (article, topic): the latest score, with the classifier and
-- topic-config version that produced it; re-scoring replaces the row (idempotent).
create table article_topics (
    article_id          varchar not null,
    topic               varchar not null,
    score               double not null,      -- 0..1
    is_match            boolean not null,     -- score >= the topic's threshold
    terms               json,                 -- matched terms, as they appear in the text
    evidence            json,                 -- 1-3 sentences carrying the evidence
    details             json,                 -- per-group hits, positions, weights
    classifier_version  varchar not null,     -- code version + hash of the topic's config
    scored_at           timestamptz not null default now(),
    primary key (article_id, topic)
);

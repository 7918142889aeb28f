"""From group hits per sentence to a topic score with its explanation.

An *anchor* is a sentence where a rule's `together` groups meet (e.g. Japan and Belgium) with the
rule's `with` context nearby (e.g. investment or R&D vocabulary). Each anchor counts by where and how
it stands: title (only in full when the body repeats the pairing), lead, body, sidebar, address or
cookie line, and how many places the sentence names (a list of countries is not a bilateral story).
The sum is the evidence E; score = 1 - exp(-E / scale), lowered when an exclusion group (football,
say) dominates. The best one to three anchors are the explanation.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from newswatch.classify.exemplars import FetchText, centroid, cosine, read_exemplars, text_vector
from newswatch.classify.matching import CompiledTerm, Hit, Matcher, compile_term
from newswatch.classify.text import Sentence, build_sentences, detect_script, fold, lower_same_length
from newswatch.config.topics import RuleSpec, TopicSpec, TopicsFile
from newswatch.models import TopicMatch

# bump when a code change can change scores: stored scores carry it, and reclassify compares it
CLASSIFIER_VERSION = "rank-2"  # rank-2: scores spread above the threshold; terms = the anchoring ones
MAX_EVIDENCE_SENTENCES = 3
MAX_EVIDENCE_CHARS = 400  # one quoted sentence in a digest; longer runs are cut with an ellipsis
MAX_TERMS = 20
PLACE_PREFIX = "place:"  # matcher group name of an entry under `places:`


@dataclass(frozen=True)
class CompiledTopic:
    spec: TopicSpec
    version: str  # CLASSIFIER_VERSION + hash of the topic's config (its groups, places, exemplars)
    exemplar_vector: dict[str, float] | None = None
    skipped_exemplars: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompiledTopics:
    topics: tuple[CompiledTopic, ...]
    matcher: Matcher
    place_groups: frozenset[str]
    by_name: dict[str, CompiledTopic] = field(default_factory=dict)
    rule_groups: frozenset[str] = field(init=False)  # every group some rule needs: all the prefilter asks about

    def __post_init__(self) -> None:
        groups = {g for t in self.topics for rule in t.spec.rules for g in (*rule.together, *rule.with_)}
        object.__setattr__(self, "rule_groups", frozenset(groups))


def compile_topics(topics_file: TopicsFile, fetch_text: FetchText | None = None) -> CompiledTopics:
    """Index every term once; hash each topic's config for its version."""
    terms: list[CompiledTerm] = []
    for name, group in topics_file.groups.items():
        terms += [compile_term(name, t.term, t.case, t.lang) for t in group.terms]
    for name, place_terms in topics_file.places.items():
        terms += [compile_term(PLACE_PREFIX + name, t.term, t.case, t.lang) for t in place_terms]
    places = {g for g, spec in topics_file.groups.items() if spec.place}
    places |= {PLACE_PREFIX + p for p in topics_file.places}
    topics = tuple(_compile_topic(topics_file, spec, fetch_text) for spec in topics_file.topics)
    return CompiledTopics(topics, Matcher(terms), frozenset(places), {t.spec.name: t for t in topics})


def _compile_topic(tf: TopicsFile, spec: TopicSpec, fetch_text: FetchText | None) -> CompiledTopic:
    texts, skipped = read_exemplars(spec.exemplars, fetch_text)
    payload = {
        # `title` is display only (digest headings): changing it must not make scores stale
        "topic": spec.model_dump(mode="json", by_alias=True, exclude={"title"}),
        "groups": {g: tf.groups[g].model_dump(mode="json") for g in spec.group_names()},
        "places": {p: [t.model_dump(mode="json") for t in ts] for p, ts in sorted(tf.places.items())},
        "exemplars": [hashlib.sha256(t.encode()).hexdigest() for t in texts],
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return CompiledTopic(spec, f"{CLASSIFIER_VERSION}+{digest[:12]}", centroid(texts), tuple(skipped))


def topic_version(compiled: CompiledTopics, topic: str) -> str:
    """Code version + hash of the topic's config: what `article_topics.classifier_version` stores."""
    return compiled.by_name[topic].version


def classify_article(
    compiled: CompiledTopics, title: str | None, text: str, lang: str | None = None, prefilter: bool = True
) -> tuple[TopicMatch, ...]:
    """One TopicMatch per configured topic, in config order.

    `prefilter`: which of the rules' groups the whole text names, first (`Matcher.present_groups`:
    exactly the groups a matcher pass over the whole text finds, at a fraction of the cost). A
    topic can only score above zero through an anchor, and an anchor needs every group of one of
    its rules in the text; a topic none of whose rules has all its groups anywhere scores 0 without
    the sentence-by-sentence analysis (most articles in a news stream name no Japan at all). Same
    scores, terms and evidence as the full path (tests/test_classify_prefilter.py and
    test_classify_fast.py check it); only `details` is shorter.
    """
    whole = f"{title or ''}\n{text or ''}"
    script = detect_script(whole, lang)
    if prefilter:
        present_anywhere = _groups_anywhere(compiled, whole, script)
        live = {t.spec.name for t in compiled.topics if _could_anchor(t.spec, present_anywhere)}
        if not live:
            return tuple(_no_anchor(t.spec, present_anywhere) for t in compiled.topics)
    sentences = build_sentences(title, text or "")
    hits = [compiled.matcher.find(s, script) for s in sentences]
    present = [{h.group for h in hs} for hs in hits]
    doc_vector: list[dict[str, float]] = []  # computed at most once, only if a topic has exemplars

    def similarity(vec: dict[str, float]) -> float:
        if not doc_vector:
            doc_vector.append(text_vector(f"{title or ''}\n{text or ''}"))
        return cosine(doc_vector[0], vec)

    return tuple(
        _score_topic(t, sentences, hits, present, compiled.place_groups, script, similarity)
        if not prefilter or t.spec.name in live else _no_anchor(t.spec, present_anywhere)
        for t in compiled.topics
    )


def _groups_anywhere(compiled: CompiledTopics, whole: str, script: str | None) -> set[str]:
    """The rules' groups matched anywhere in title + text: a superset of the per-sentence matches.

    Only the groups some rule needs: they decide which topics are live and what `missing_groups`
    says; the others (places, exclusions) count only in the full path.
    """
    folded = fold(whole)
    whole_text = Sentence(0, whole, folded, lower_same_length(folded), -1)
    return compiled.matcher.present_groups(whole_text, script, compiled.rule_groups)


def _could_anchor(spec: TopicSpec, present: set[str]) -> bool:
    return any(set(rule.together) | set(rule.with_) <= present for rule in spec.rules)


def _no_anchor(spec: TopicSpec, present: set[str]) -> TopicMatch:
    missing = sorted({g for rule in spec.rules for g in (*rule.together, *rule.with_)} - present)
    return TopicMatch(
        topic=spec.name, score=0.0, matched=0.0 >= spec.threshold, terms=(), evidence=(),
        details={"prefilter": "no rule has all its groups in the text", "missing_groups": missing,
                 "threshold": spec.threshold},
    )


def classify_batch(compiled: CompiledTopics, items: Iterable[Any]) -> list[tuple[TopicMatch, ...]]:
    """Classify many items: mappings with title/text/lang keys or objects with those attributes."""
    out = []
    for item in items:
        get = item.get if isinstance(item, Mapping) else lambda k, d=None, o=item: getattr(o, k, d)
        out.append(classify_article(compiled, get("title"), get("text") or "", get("lang")))
    return out


def _score_topic(
    topic: CompiledTopic,
    sentences: list[Sentence],
    hits: list[list[Hit]],
    present: list[set[str]],
    place_groups: frozenset[str],
    script: str | None,
    similarity: Any,
) -> TopicMatch:
    spec: TopicSpec = topic.spec
    w = spec.weights
    anchors: dict[int, float] = {}
    title_groups = present[0] if sentences and sentences[0].is_title else set()
    for rule in spec.rules:
        for i in _rule_anchors(rule, present, title_groups, w.lead_sentences):
            anchors[i] = max(anchors.get(i, 0.0), rule.weight)
    body_anchor = any(not sentences[i].is_title for i in anchors)
    weighted = {i: base * _quality(sentences[i], present[i], place_groups, w, body_anchor) for i, base in anchors.items()}
    support = _support(spec, sentences, present, anchors) if anchors else 0
    evidence = sum(weighted.values()) + min(w.support_cap, w.support * support)
    excl = _exclusion(spec, present, weighted, title_groups)
    evidence *= 1.0 - excl["penalty"]
    sim = similarity(topic.exemplar_vector) if topic.exemplar_vector and evidence > 0 else 0.0
    evidence += w.exemplar * sim
    score = calibrated_score(evidence, w.scale, spec.threshold)
    best = sorted(weighted, key=lambda i: (-weighted[i], i))[:MAX_EVIDENCE_SENTENCES]
    best = [i for i in sorted(best) if weighted[i] > 0]
    groups = set(spec.group_names()) - set(spec.exclude.groups if spec.exclude else ())
    details = {
        "script": script,
        "evidence_weight": round(evidence, 4),
        "anchors": [_anchor_detail(sentences[i], present[i], place_groups, weighted[i]) for i in sorted(weighted)],
        "support_sentences": support,
        "group_sentences": {g: sum(g in p for p in present) for g in sorted(groups)},
        "exclusion": excl,
        "exemplar_similarity": round(sim, 4),
        "threshold": spec.threshold,
    }
    return TopicMatch(
        topic=spec.name,
        score=score,
        matched=score >= spec.threshold,
        terms=_terms(hits, sorted(weighted), _pair_groups(spec) & groups, _context_groups(spec) & groups),
        evidence=tuple(_quote(sentences[i].text) for i in best),
        details=details,
    )


SCORE_SPREAD = 2.5  # above the threshold, evidence saturates over SCORE_SPREAD x scale, not 1 x scale


def calibrated_score(evidence: float, scale: float, threshold: float) -> float:
    """Evidence -> a 0-1 score that ranks.

    Below the match threshold: 1 - exp(-evidence / scale), as before, so the match decision (score
    >= threshold) is unchanged. Above it the curve is stretched: 1 - exp(-e/scale) reached 0.99 at
    evidence ~7.4, so every central article showed 1.00; here the remaining (1 - threshold) is
    spent over SCORE_SPREAD times the scale, so a title+lead+body story (evidence ~10) scores ~0.95
    and one anchor in the lead (~1.5) ~0.55. docs/digests.md has the dev-set reliability table.
    """
    raw = 1.0 - math.exp(-evidence / scale)
    if raw < threshold or threshold >= 1.0:
        return round(raw, 4)
    at = -scale * math.log(1.0 - threshold)  # the evidence where raw == threshold
    stretched = threshold + (1.0 - threshold) * (1.0 - math.exp(-(evidence - at) / (SCORE_SPREAD * scale)))
    return round(max(threshold, stretched), 4)


def _rule_anchors(rule: RuleSpec, present: list[set[str]], title_groups: set[str], lead: int) -> list[int]:
    """Sentences where the rule's groups meet (within `window`) with its context (within `with_window`).

    The title sets the context of the whole article, so a `with` group in the title counts everywhere;
    and the title's neighbours are the lead, so a title anchor takes its context from the lead too.
    """
    out = []
    n = len(present)
    for i in range(n):
        if rule.together[0] not in present[i]:
            continue
        lo, hi = max(0, i - rule.window), min(n, i + rule.window + 1)
        if not all(any(g in present[j] for j in range(lo, hi)) for g in rule.together[1:]):
            continue
        lo, hi = max(0, i - rule.with_window), min(n, i + rule.with_window + 1)
        if i == 0 and title_groups:
            hi = min(n, max(hi, 1 + lead))
        if all(any(g in present[j] for j in range(lo, hi)) or g in title_groups for g in rule.with_):
            out.append(i)
    return out


def _support(spec: TopicSpec, sentences: list[Sentence], present: list[set[str]], anchors: dict[int, float]) -> int:
    """Other sentences where each side of a rule stands with the rule's context (Takeda + drug).

    The count of the side with fewer such sentences: a bilateral story keeps returning to both
    sides, a UK biotech factsheet that names Japan once does not.
    """
    best = 0
    for rule in spec.rules:
        per_side = {g: 0 for g in rule.together}
        for i, groups in enumerate(present):
            if i in anchors or sentences[i].is_noise or sentences[i].is_sidebar or not set(rule.with_) <= groups:
                continue
            for g in groups & per_side.keys():
                per_side[g] += 1
        best = max(best, min(per_side.values()))
    return best


def _where(s: Sentence, lead_sentences: int) -> str:
    if s.is_title:
        return "title"
    return "lead" if s.body_index < lead_sentences else "body"


def _quality(s: Sentence, groups: set[str], place_groups: frozenset[str], w, body_anchor: bool) -> float:
    where = _where(s, w.lead_sentences)
    weight = {"title": w.title if body_anchor else w.title_alone, "lead": w.lead, "body": w.body}[where]
    if s.is_sidebar:
        weight *= w.sidebar
    if s.is_noise:
        weight *= w.noise
    if s.is_list:
        weight *= w.enumeration
    n_places = len(groups & place_groups)
    if n_places == 3:
        weight *= w.list3
    elif n_places >= 4:
        weight *= w.list4
    return weight


def _exclusion(spec: TopicSpec, present: list[set[str]], weighted: dict[int, float], title_groups: set[str]) -> dict:
    """Share of the anchors (and the title) where an exclusion group stands: sport, say."""
    if not spec.exclude or not weighted:
        return {"penalty": 0.0}
    ex = set(spec.exclude.groups)
    near = [i for i in weighted if any(ex & present[j] for j in range(max(0, i - 1), min(len(present), i + 2)))]
    in_title = bool(ex & title_groups)
    share = 1.0 if in_title else len(near) / len(weighted)
    penalty = spec.exclude.penalty * min(1.0, share * 2)  # dominant when a half of the anchors stand near it
    return {"penalty": round(penalty, 4), "share": round(share, 4), "in_title": in_title}


def _anchor_detail(s: Sentence, groups: set[str], place_groups: frozenset[str], weight: float) -> dict:
    return {
        "sentence": s.index,
        "where": "title" if s.is_title else f"body[{s.body_index}]",
        "weight": round(weight, 4),
        "places": sorted(groups & place_groups),
        "noise": s.is_noise,
        "sidebar": s.is_sidebar,
    }


def _pair_groups(spec: TopicSpec) -> set[str]:
    return {g for rule in spec.rules for g in rule.together}


def _context_groups(spec: TopicSpec) -> set[str]:
    return {g for rule in spec.rules for g in rule.with_}


def _terms(hits: list[list[Hit]], anchor_idx: list[int], pair: set[str], context: set[str]) -> tuple[str, ...]:
    """The terms that anchored the match: in each anchor sentence the partner pair (every hit of a
    rule's `together` groups) and one domain word (a `with` group) — the one nearest the middle of
    the pair, i.e. the word that links them ("Japanese firms will *invest* in Belgium") — not every
    vocabulary word the sentence happens to contain ("Minister", "companies", "According")."""
    seen: dict[str, None] = {}
    for i in anchor_idx:
        ordered = sorted(hits[i], key=lambda h: h.start)
        pair_hits = [h for h in ordered if h.group in pair]
        domain = [h for h in ordered if h.group in context and h.group not in pair]
        for h in pair_hits:
            seen.setdefault(h.surface.strip(), None)
        if domain:
            if pair_hits:
                mid = (pair_hits[0].start + pair_hits[-1].start) / 2
                best = min(domain, key=lambda h: (abs(h.start - mid), h.start))
            else:
                best = domain[0]
            seen.setdefault(best.surface.strip(), None)
    return tuple(list(seen)[:MAX_TERMS])


def _quote(sentence: str) -> str:
    s = " ".join(sentence.split())
    return s if len(s) <= MAX_EVIDENCE_CHARS else s[: MAX_EVIDENCE_CHARS - 1].rstrip() + "…"

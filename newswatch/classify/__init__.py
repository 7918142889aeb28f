"""Topic classification: explained, multilingual term rules from config/topics.yaml.

    compiled = compile_topics(load_config(dir).topics)        # once per run
    matches = classify_article(compiled, title, text, lang)   # one TopicMatch per topic
    topic_version(compiled, "japan-china")                   # stored with every score

Modules: `text` (folding, sentences, script), `matching` (term index), `scoring` (rules, weights,
explanation), `exemplars` (optional similarity), `evaluation` (JSONL, precision/recall).
"""

from newswatch.classify.evaluation import EvalReport, evaluate, format_report, read_jsonl, to_output
from newswatch.classify.scoring import (
    CLASSIFIER_VERSION,
    CompiledTopic,
    CompiledTopics,
    classify_article,
    classify_batch,
    compile_topics,
    topic_version,
)
from newswatch.classify.text import detect_script

__all__ = [
    "CLASSIFIER_VERSION",
    "CompiledTopic",
    "CompiledTopics",
    "EvalReport",
    "classify_article",
    "classify_batch",
    "compile_topics",
    "detect_script",
    "evaluate",
    "format_report",
    "read_jsonl",
    "to_output",
    "topic_version",
]

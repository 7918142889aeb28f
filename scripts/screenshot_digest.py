"""Render a sample digest to HTML and screenshot it in headless Chromium, for a person to look at.

    python scripts/screenshot_digest.py [--out-dir build/digest-preview] [--width 1200 --width 390]

Writes sample-digest.html, .txt, .chat.md and sample-digest-<width>.png (by default at 1200 px,
a desktop mail client, and 390 px, a phone). Needs Debian's chromium (`apt-get install
chromium`); tests/test_digest_screenshot.py runs it when chromium is installed. The sample includes a hostile title and a
`javascript:` link, so the screenshot also shows what escaping looks like. Touches no network:
Chromium is started with background networking, sync and component updates off.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newswatch.digest import Digest, DigestItem, DigestSection, SourceProblem, render_all
from newswatch.digest.model import StoryUpdate
from newswatch.digest.render import subject_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_TIMEOUT_S = 60


def sample_digest(now: datetime) -> Digest:
    """What an analyst's digest holds: two topics with human titles, evidence with anchoring terms,
    a folded report in another language, an update line, "and N more", a hostile title, the footer."""

    def item(aid, title, source, lang, score, hours, topic, terms, evidence, url=None, also=()):
        return DigestItem(article_id=aid, url=url or f"https://{source}/news/2026/11/{aid}-a-long-article-slug",
                          source=source, title=title, topic=topic, score=score,
                          published_at=now - timedelta(hours=hours), lang=lang, terms=terms, evidence=evidence,
                          also=also)

    nos = item("nl1", "Japans Shionogi opent lab in Leiden", "nos.nl", "nl", 0.71, 3, "japan-benelux", (), ())
    benelux = (
        item("en1", "Shionogi opens antibiotics laboratory in Leiden with 40 scientists", "belganewsagency.eu", "en",
             0.93, 2, "japan-benelux", ("Japanese", "Leiden", "Netherlands", "laboratory"),
             ("Japanese drugmaker Shionogi has opened a research laboratory in Leiden, the Netherlands, where 40 "
              "scientists will work on new antibiotics.",), also=(nos,)),
        item("ja1", "アステラス、ベルギーのオゲダ買収を完了", "astellas.com", "ja", 0.81, 5, "japan-benelux",
             ("アステラス", "ベルギー", "買収"), ("アステラス製薬は、ベルギーのOgeda社の買収が完了したと発表した。",)),
        item("x1", '<script>alert("pwned")</script> Japan & "Belgium" news', "evil.example", "en", 0.58, 8,
             "japan-benelux", ("Japan",), ("Japan <img src=x onerror=alert(1)> and Belgium met.",),
             url="javascript:alert(1)"),
    )
    china = (
        item("zh1", "Takeda opens new drug development center in Shanghai", "fiercebiotech.com", "en", 0.77, 6,
             "japan-china", ("Japan's", "Takeda", "Shanghai", "China's", "drug"),
             ("Japan's Takeda is adding a drug development center in Shanghai for China's market.",)),
    )
    update = StoryUpdate("s0", "Takeda invests EUR 300 million in its Lessines plant", "https://belga.example/s0",
                         now - timedelta(days=1),
                         (DigestItem("fr1", "https://lesoir.be/fr1", "lesoir.be", "Takeda investit à Lessines",
                                     "japan-benelux", 0.66, lang="fr"),))
    more = tuple(DigestItem(f"m{i}", f"https://x.example/m{i}", "x.example", f"More {i}", "japan-benelux", 0.5)
                 for i in range(4))
    digest = Digest(
        subscriber="japan-desk", subject="", created_at=now,
        sections=(DigestSection("japan-benelux", benelux, "Japan – Benelux"),
                  DigestSection("japan-china", china, "Japan – China")),
        more=more, updates=(update,),
        problems=(SourceProblem("nikkei-feed", "failing", "3 failed polls in a row: HTTP 503"),
                  SourceProblem("jetro-news", "silent", "no new article since 2026-11-14")),
        since=now - timedelta(days=1), tz="Europe/Amsterdam",
    )
    return replace(digest, subject=subject_for("newswatch digest", digest))


def chromium() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def _run(args: list[str], width: int, height: int) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            chromium() or CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--window-size={width},{height}", *args,
        ]
        return subprocess.run(cmd, check=True, timeout=CHROMIUM_TIMEOUT_S, capture_output=True, text=True)


def screenshot(html_path: Path, png_path: Path, width: int, height: int) -> None:
    _run([f"--screenshot={png_path}", html_path.resolve().as_uri()], width, height)


_MEASURE = """<script>
window.addEventListener("load", () => {
  const d = document.documentElement;
  document.body.setAttribute("data-scroll-width", String(d.scrollWidth));
  document.body.setAttribute("data-client-width", String(d.clientWidth));
});
</script>"""


def layout_widths(html: str, width: int, workdir: Path) -> tuple[int, int]:
    """(scrollWidth, clientWidth) of the page laid out at `width` px: wider means sideways scrolling.

    Measured on a copy with a small script added (the email itself carries none)."""
    probe = workdir / f"probe-{width}.html"
    probe.write_text(html.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    dom = _run(["--virtual-time-budget=2000", "--dump-dom", probe.resolve().as_uri()], width, 900).stdout
    scroll = int(re.search(r'data-scroll-width="(\d+)"', dom).group(1))
    client = int(re.search(r'data-client-width="(\d+)"', dom).group(1))
    return scroll, client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default="build/digest-preview")
    parser.add_argument("--width", type=int, action="append")
    parser.add_argument("--height", type=int, default=1600)
    args = parser.parse_args()
    widths = args.width or [1200, 390]
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rendered = render_all(sample_digest(datetime(2026, 11, 20, 7, 30, tzinfo=UTC)))
    html_path = out / "sample-digest.html"
    html_path.write_text(rendered.html, encoding="utf-8")
    (out / "sample-digest.txt").write_text(rendered.text, encoding="utf-8")
    (out / "sample-digest.chat.md").write_text(rendered.chat, encoding="utf-8")
    if not chromium():
        print(f"wrote {html_path}; no screenshot: chromium is not installed (apt-get install chromium)")
        return 1
    for width in widths:
        png = out / f"sample-digest-{width}.png"
        screenshot(html_path, png, width, args.height)
        print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Render a sample digest to HTML and screenshot it in headless Chromium, for a person to look at.

    python scripts/screenshot_digest.py [--out-dir build/digest-preview] [--width 800]

Writes sample-digest.html, .txt, .chat.md and sample-digest.png. Not part of CI: it needs
Debian's chromium (`apt-get install chromium`). The sample includes a hostile title and a
`javascript:` link, so the screenshot also shows what escaping looks like. Touches no network:
Chromium is started with background networking, sync and component updates off.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newswatch.digest import Digest, DigestItem, DigestSection, SourceProblem, render_all

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_TIMEOUT_S = 60


def sample_digest(now: datetime) -> Digest:
    def item(aid, title, source, lang, score, hours, topic, terms, evidence, url=None, also=()):
        return DigestItem(article_id=aid, url=url or f"https://{source}/{aid}", source=source, title=title,
                          topic=topic, score=score, published_at=now - timedelta(hours=hours), lang=lang,
                          terms=terms, evidence=evidence, also=also)

    nos = item("nl1", "Ørsted krijgt contract voor Hornsea 4", "nos.nl", "nl", 0.81, 3, "offshore-wind",
               ("windpark",), ())
    energy = (
        item("en1", "Ørsted wins Hornsea 4 contract for 2.4 GW wind farm", "reuters.com", "en", 0.92, 2,
             "offshore-wind", ("wind farm", "offshore"),
             ("Ørsted has won a contract for Hornsea 4, a 2.4 GW offshore wind farm off Yorkshire.",
              "Construction of the wind farm starts in 2027."), also=(nos,)),
        item("ja1", "洋上風力発電の入札、秋田沖で結果発表", "nhk.or.jp", "ja", 0.77, 5, "offshore-wind",
             ("洋上風力",), ("秋田沖の洋上風力発電の入札結果が発表された。",)),
        item("x1", '<script>alert("pwned")</script> Wind & "solar" news', "evil.example", "en", 0.64, 8,
             "offshore-wind", ("wind",), ("Wind <img src=x onerror=alert(1)> output rose.",),
             url="javascript:alert(1)"),
    )
    grid = (
        item("de1", "Netzbetreiber warnt vor Engpässen im Winter", "tagesschau.de", "de", 0.71, 6, "grid",
             ("Netz",), ("Der Netzbetreiber warnt vor Engpässen im Netz.",)),
    )
    return Digest(
        subscriber="energy-desk", subject="newswatch digest: 4 new — offshore-wind, grid", created_at=now,
        sections=(DigestSection("offshore-wind", energy), DigestSection("grid", grid)),
        problems=(SourceProblem("windpower-monthly", "failing", "3 failed polls in a row: HTTP 503"),
                  SourceProblem("energy-ministry", "silent", "no new article since 2026-11-14")),
        since=now - timedelta(days=1), tz="Europe/Amsterdam",
    )


def screenshot(html_path: Path, png_path: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--window-size={width},{height}",
            f"--screenshot={png_path}", html_path.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, timeout=CHROMIUM_TIMEOUT_S, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default="build/digest-preview")
    parser.add_argument("--width", type=int, default=800)
    parser.add_argument("--height", type=int, default=1400)
    args = parser.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rendered = render_all(sample_digest(datetime.now(UTC)))
    html_path = out / "sample-digest.html"
    html_path.write_text(rendered.html, encoding="utf-8")
    (out / "sample-digest.txt").write_text(rendered.text, encoding="utf-8")
    (out / "sample-digest.chat.md").write_text(rendered.chat, encoding="utf-8")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        print(f"wrote {html_path}; no screenshot: chromium is not installed (apt-get install chromium)")
        return 1
    png = out / "sample-digest.png"
    screenshot(html_path, png, args.width, args.height)
    print(f"wrote {html_path} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

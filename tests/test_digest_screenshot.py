"""The HTML digest in a real browser: headless Chromium at 1200 px (desktop mail) and 390 px (phone).

Skips with a reason when Debian's chromium is not installed (`apt-get install -y chromium`).
Checks that each width renders to a screenshot of that width and lays out without sideways
scrolling (long URLs and titles wrap), and that the sample's every text meets WCAG AA contrast.
"""

from __future__ import annotations

import struct
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_digest_render import AA_NORMAL, audit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import screenshot_digest as shot  # noqa: E402

from newswatch.digest import render_html  # noqa: E402

NOW = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
WIDTHS = (1200, 390)

needs_chromium = pytest.mark.skipif(shot.chromium() is None,
                                    reason="chromium is not installed (apt-get install -y chromium)")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_sample_digest_meets_contrast_and_shows_every_part():
    html = render_html(shot.sample_digest(NOW))
    found = audit(html)
    assert [(t[:40], round(r, 2)) for t, _, _, r in found if r < AA_NORMAL] == []
    for part in ("Japan – Benelux", "Japan – China", "Also reported by", "Updates to stories already sent",
                 "more matching stories", "Source health"):
        assert part in html


@needs_chromium
@pytest.mark.parametrize("width", WIDTHS)
def test_digest_screenshot_and_layout_at_width(tmp_path, width):
    html = render_html(shot.sample_digest(NOW))
    page = tmp_path / "digest.html"
    page.write_text(html, encoding="utf-8")
    png = tmp_path / f"digest-{width}.png"
    shot.screenshot(page, png, width, 1600)
    assert png_size(png) == (width, 1600) and png.stat().st_size > 10_000  # a rendered page, not a blank
    scroll, client = shot.layout_widths(html, width, tmp_path)
    assert client > 0 and scroll <= client, f"{scroll}px of content in a {client}px window: sideways scrolling"

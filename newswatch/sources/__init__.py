"""Source parsers: feed, sitemap or index-page bytes + the document's URL -> `ParsedSource`.

Pure functions (no network, no files): `fetch` downloads, these parse. Bad input never raises;
it comes back as `ParsedSource.error` with whatever entries could be salvaged.
"""

from newswatch.sources.feeds import parse_feed
from newswatch.sources.html_index import discover_links
from newswatch.sources.sitemaps import parse_sitemap

__all__ = ["discover_links", "parse_feed", "parse_sitemap"]

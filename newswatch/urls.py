"""URL canonicalisation, stable ids and address safety checks (pure: no network)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import string
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

# Query parameters that identify a campaign or a click, never the page itself.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "mc_cid", "mc_eid", "igshid",
        "yclid", "_hsenc", "_hsmi", "mkt_tok", "ref_src", "ref_url", "cmpid", "ocid", "smid",
        "sr_share", "ito", "guccounter", "guce_referrer", "guce_referrer_sig", "__twitter_impression",
        "at_medium", "at_campaign", "rss", "feed", "spm", "share", "soc_src", "soc_trk",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "ga_", "__hs", "hsa_", "oly_", "vero_")
DEFAULT_PORTS = {"http": 80, "https": 443}


class InvalidURL(ValueError):
    pass


def _is_tracking(key: str) -> bool:
    k = key.lower()
    return k in TRACKING_PARAMS or k.startswith(TRACKING_PREFIXES)


def canonicalize_url(url: str, base: str | None = None) -> str:
    """Return the canonical form used for the already-seen check.

    Lower-cases scheme and host, drops default ports, fragments, tracking parameters and empty
    queries, sorts the remaining query parameters, normalises percent-encoding and IDN hosts.
    Raises InvalidURL for anything that is not an absolute http(s) URL.
    """
    url = (url or "").strip()
    if base:
        url = urljoin(base, url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"unparseable URL {url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidURL(f"only http and https URLs are fetched, not {url!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidURL(f"URL without a host: {url!r}")
    try:
        host = host.encode("idna").decode("ascii").lower() if not _is_ip(host) else host.lower()
    except UnicodeError as exc:
        raise InvalidURL(f"invalid host in {url!r}") from exc
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = normalize_percent_encoding(parts.path or "/")
    query_pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    query = urlencode(sorted(query_pairs), doseq=True)
    return urlunsplit((scheme, netloc, path, query, ""))


_PCT_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_BARE_PCT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")


def normalize_percent_encoding(path: str) -> str:
    """RFC 3986 6.2.2: decode escapes of unreserved characters only, upper-case the others, and
    escape what must be escaped. Never decodes `%25`, so the result is a fixed point."""

    def fix(m: re.Match) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    path = _BARE_PCT_RE.sub("%25", path)  # a lone '%' is a literal percent sign: escape it first
    return quote(_PCT_RE.sub(fix, path), safe="/:@!$&'()*+,;=-._~%")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def url_id(canonical_url: str) -> str:
    """Stable primary key: the first 128 bits of the SHA-256 of the canonical URL, in hex."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:32]


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def is_public_address(address: str) -> bool:
    """False for private, loopback, link-local, multicast, reserved and unspecified addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
    )

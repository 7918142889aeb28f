"""URL canonicalisation, stable ids and address safety checks (pure: no network)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import string
from urllib.parse import quote, unquote, urlsplit

import ada_url

# Query parameters that identify a campaign, a click or a share, never the page itself. Source:
# the ClearURLs project's `globalRules` (as shipped in Unalix 0.9's data.min.json; no package on
# the registry ships a maintained ClearURLs rule file usable offline: url-sanitize needs a native
# binary, url-unwrap downloads the rules at run time), plus the Google, Meta, Microsoft, Adobe,
# HubSpot, Mailchimp, Matomo and AT Internet click ids that feeds add. Left out on purpose:
# ClearURLs' `ref`, `referrer` and `[a-z]?mc` (on some sites they select content), and anything
# that selects the article (`id`, `p`, `story_fbid`, `article`, `page`): a wrong strip merges two
# articles into one, a missed strip only fetches one article twice.
TRACKING_PARAMS = frozenset(
    {
        # Google
        "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "srsltid", "_ga", "_gl", "_gac", "gs_l",
        # Meta
        "fbclid", "fb_source", "fb_ref", "fb_action_ids", "fb_action_types", "action_object_map",
        "action_type_map", "action_ref_map", "igshid", "igsh",
        # Microsoft, Yandex, Twitter/X, TikTok, LinkedIn, Pinterest
        "msclkid", "ocid", "cvid", "yclid", "ysclid", "_openstat", "twclid", "__twitter_impression",
        "ttclid", "li_fat_id", "epik",
        # Mailchimp, HubSpot, Marketo, Drip, Klaviyo, MailerLite, Vero, Omeda
        "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "__s", "_kx", "ml_subscriber",
        "ml_subscriber_hash", "oly_anon_id", "oly_enc_id", "vero_conv", "vero_id",
        # Adobe / Omniture, Webtrends, AT Internet, other analytics
        "s_cid", "s_kwcid", "sc_cid", "cmpid", "wt_mc", "wt_zmc", "wtmc", "wtrid", "xtor", "xtref",
        "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4",
        "_branch_match_id", "_branch_referrer", "os_ehash", "tracking_source", "ceneo_spo", "rb_clickid",
        # news sites' share and referral markers
        "smid", "sr_share", "ito", "guccounter", "guce_referrer", "guce_referrer_sig", "ref_src",
        "ref_url", "rss", "feed", "spm", "share", "soc_src", "soc_trk", "ncid", "echobox",
        # comScore and Adobe campaign fields
        "ns_campaign", "ns_mchannel", "ns_source", "ns_linkname", "ns_fee", "sc_campaign",
        "sc_channel", "sc_content", "sc_medium", "sc_outcome", "sc_geo", "sc_country",
    }
)  # fmt: skip
TRACKING_PREFIXES = (
    "utm_", "pk_", "mtm_", "matomo_", "piwik_", "ga_", "__hs", "hsa_", "oly_", "vero_", "itm_", "otm_",
    "hmb_", "stm_", "at_link", "at_recipient", "trk_", "_bta_",
)  # fmt: skip
SCHEMES = ("http", "https")


class InvalidURL(ValueError):
    pass


def _is_tracking(key: str) -> bool:
    k = unquote(key).lower()
    return k in TRACKING_PARAMS or k.startswith(TRACKING_PREFIXES)


def canonicalize_url(url: str, base: str | None = None) -> str:
    """Return the canonical form used for the already-seen check.

    Parsing is the WHATWG URL standard's (ada-url): hosts follow UTS-46 as browsers do, numeric
    IPv4 forms become dotted quads, dot segments and backslashes are resolved, default ports
    dropped; what the standard rejects raises InvalidURL. On top of that: no credentials, no
    fragment, no trailing dot in the host, tracking parameters and empty queries dropped, the
    rest sorted by name (stable: repeated names keep their order), escapes of unreserved
    characters decoded and the others upper-cased (RFC 3986 6.2.2). Only http(s) URLs pass.
    """
    parsed = _parse(url, base)
    if parsed.protocol[:-1] not in SCHEMES:
        raise InvalidURL(f"only http and https URLs are fetched, not {url!r}")
    host = parsed.hostname.rstrip(".")
    if not host:
        raise InvalidURL(f"URL without a host: {url!r}")
    _check_a_labels(host, url)
    netloc = f"{host}:{parsed.port}" if parsed.port else host
    path = normalize_percent_encoding(parsed.pathname or "/")
    query = _canonical_query(parsed.search[1:])
    return f"{parsed.protocol}//{netloc}{path}{'?' + query if query else ''}"


def _parse(url: str, base: str | None) -> ada_url.URL:
    try:
        return ada_url.URL(url or "", base) if base else ada_url.URL(url or "")
    except (ValueError, TypeError) as exc:  # ada: "Invalid input" for all the standard rejects
        where = f" against {base!r}" if base else ""
        raise InvalidURL(f"not a valid URL (WHATWG URL standard): {url!r}{where}") from exc


def _check_a_labels(host: str, url: str) -> None:
    """A label `xn--...` must be Punycode that decodes to something (ada lets `xn--` through)."""
    for label in host.split("."):
        if label[:4].lower() != "xn--":
            continue
        try:
            decoded = label[4:].encode("ascii").decode("punycode")
        except (UnicodeError, ValueError) as exc:
            raise InvalidURL(f"invalid IDNA label {label!r} in {url!r}") from exc
        if not decoded or decoded.isascii():
            raise InvalidURL(f"invalid IDNA label {label!r} in {url!r}")


def _canonical_query(query: str) -> str:
    """Tracking parameters dropped, the rest sorted by name; values never decoded (no merges)."""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        key, eq, value = part.partition("=")
        if _is_tracking(key):
            continue
        key, value = _normalize_query_part(key), _normalize_query_part(value)
        pairs.append((key, f"{key}{eq}{value}"))
    pairs.sort(key=lambda pair: pair[0])  # stable: a repeated name keeps its values' order
    return "&".join(text for _, text in pairs)


_PCT_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_BARE_PCT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")


def _fix_escape(m: re.Match) -> str:
    ch = chr(int(m.group(1), 16))
    return ch if ch in _UNRESERVED else "%" + m.group(1).upper()


def normalize_percent_encoding(path: str) -> str:
    """RFC 3986 6.2.2: decode escapes of unreserved characters only, upper-case the others, and
    escape what must be escaped. Never decodes `%25`, so the result is a fixed point."""
    path = _BARE_PCT_RE.sub("%25", path)  # a lone '%' is a literal percent sign: escape it first
    return quote(_PCT_RE.sub(_fix_escape, path), safe="/:@!$&'()*+,;=-._~%")


def _normalize_query_part(text: str) -> str:
    """As for the path, but `&` and `=` stay escaped where they were: they delimit the pairs."""
    text = _BARE_PCT_RE.sub("%25", text)
    return quote(_PCT_RE.sub(_fix_escape, text), safe="/:@!$'()*+,;=?-._~%")


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

"""Prompt text in reports: short excerpts with what identifies people or secrets replaced, unless the user asks
for the text (`--show-text`). The report model holds only what this module returns, so the HTML, JSON,
Markdown and CSV outputs all carry the same (redacted) excerpt.

Redaction is a pattern pass, not a guarantee: it removes the usual suspects (e-mail addresses, URLs, keys and
tokens, long numbers, dates, IP addresses, UUIDs and hex ids) and keeps the words that say which prompt it is.
"""

from __future__ import annotations

import re

EXCERPT_CHARS = 80  # a redacted excerpt: enough to recognise a prompt, not to read it
SHOWN_CHARS = 400  # --show-text: the start of the text, unredacted

# A value named as a secret, whatever its shape: `password=CorrectHorseBatteryStaple`, an Azure SAS `sig=...`,
# `x-api-key: abcdef`, `"client_secret": "..."`. The name stays (it says what was there), the value goes.
_SECRET_NAME = (
    r"(?:[\w-]{0,20}[_-])?(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|auth|authorization|sig|signature|credentials?|private[_-]?key|session[_-]?id|cookie)"
)
_SECRET_NAMES = re.compile(
    rf"(?i)\b({_SECRET_NAME}[\"']?\s{{0,5}}[:=]\s{{0,5}})"
    r"(?:\"[^\"\n]{0,1024}\"?|'[^'\n]{0,1024}'?|(?:(?:Bearer|Basic|Token)\s+)?[^\s\"'&,;<>]{1,1024})"
)

# Every quantifier that can meet a long run of the same characters is bounded, so that one 400 KB value costs
# linear time (an unbounded local part made the e-mail pattern try every start: 12 minutes on such a value).
_PATTERNS = [
    (_SECRET_NAMES, r"\1[secret]"),
    (re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}"), "[email]"),
    (re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.\S+", re.IGNORECASE), "[url]"),
    (re.compile(r"\bBearer\s+\S+", re.IGNORECASE), "Bearer [secret]"),
    (
        re.compile(r"\b(?:sk|pk|rk|ghp|gho|ghs|ghu|github_pat|glpat|hf|xox[abpr]|AKIA|ASIA|AIza)[-_A-Za-z0-9]{12,}"),
        "[secret]",
    ),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE), "[id]"),
    # IPv6: the full eight groups, or a compressed form with "::" (so a time like 10:30:00 is left alone)
    (
        re.compile(
            r"\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b"
            r"|(?<![\w:])(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?(?![\w:])",
            re.IGNORECASE,
        ),
        "[ip]",
    ),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"), "[ip]"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?"), "[date]"),
    (re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"), "[date]"),
    # long opaque tokens: 20+ characters mixing letters and digits (API keys, AWS secret keys, JWTs, session ids,
    # hashes), base64 punctuation included
    (
        re.compile(r"(?<![\w/+=.-])(?=[A-Za-z0-9_/+=.-]*\d)(?=[\d_/+=.-]*[A-Za-z])[A-Za-z0-9][A-Za-z0-9_\-./+=]{19,}"),
        "[token]",
    ),
    (re.compile(r"\+?\d[\d ()-]{6,40}\d"), "[number]"),  # phone, card and account numbers
    (re.compile(r"\b\d{4,}\b"), "[number]"),
]
_SPACE = re.compile(r"\s+")
# control characters (a terminal would act on ESC sequences) and bidirectional overrides (text that reads
# differently from what it is): never part of an excerpt
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def redact(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def excerpt_of(text: str | None, start: int, end: int, show_text: bool = False, limit: int | None = None) -> str | None:
    """The excerpt of text[start:end], where the fragment is widened to whole matches first: redacting a
    fragment on its own would miss an e-mail address or a key that it cuts in two ("alice.smith" of
    "alice.smith@corp.com", the first characters of a key)."""
    if text is None:
        return None
    if not show_text:
        for pattern, _ in _PATTERNS:
            for m in pattern.finditer(text):
                if m.start() < end and m.end() > start:
                    start, end = min(start, m.start()), max(end, m.end())
    return excerpt(text[start:end], show_text, limit)


def excerpt(text: str | None, show_text: bool = False, limit: int | None = None) -> str | None:
    """One line of a prompt for a report: whitespace collapsed, redacted and cut to EXCERPT_CHARS, or, with
    show_text, the unredacted start (SHOWN_CHARS). None when the text was not stored (--no-text)."""
    if text is None:
        return None
    line = _UNSAFE.sub("", _SPACE.sub(" ", text)).strip()
    if not show_text:
        line = redact(line)
    limit = limit or (SHOWN_CHARS if show_text else EXCERPT_CHARS)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "\u2026"


_TERMINAL_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """Text for a terminal with every control character but the newline removed: model and user names come
    from logs, and an ESC sequence in one would be acted on by the terminal."""
    return _TERMINAL_UNSAFE.sub("", text)


_LINE_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def one_line(text: str) -> str:
    """Text for one line of a terminal, with every control character (newlines too) shown escaped: a file name
    or a JSON key from a log can neither drive the terminal nor forge a line of output."""
    return _LINE_UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)

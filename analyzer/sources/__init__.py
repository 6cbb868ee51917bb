"""The registry of input formats: how a file's format is recognised and how its records are read.

Adding a format is one module with a `Source` subclass, listed in `SOURCES`; nothing else changes.
Order matters where formats overlap: the most specific sniffers come first.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from analyzer import inputs
from analyzer.errors import InputError
from analyzer.inputs import ByteStream, Digest, Line, RangeStream, label, split_lines
from analyzer.sources.anthropic import Anthropic
from analyzer.sources.anthropic_batch import AnthropicBatchResults
from analyzer.sources.anthropic_usage import AnthropicCostReport, AnthropicUsageReport, ClaudeCodeUsageReport
from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.bedrock import BedrockConverse, BedrockInvocationLog, BedrockInvokeModel
from analyzer.sources.claude_code import ClaudeCode
from analyzer.sources.cline import ClineTask
from analyzer.sources.codex import CodexSession
from analyzer.sources.gemini import GeminiGenerateContent
from analyzer.sources.langfuse import LangfuseBatch
from analyzer.sources.litellm import LiteLLMPayload, LiteLLMSpendLog
from analyzer.sources.llm_logs import SQLITE_MAGIC, LlmLogsDb, sqlite_rows
from analyzer.sources.mini_swe_agent import MiniSweAgentTrajectory
from analyzer.sources.mooncake import MooncakeTrace
from analyzer.sources.openai_batch import OpenAIBatchInput, OpenAIBatchOutput
from analyzer.sources.openai_chat import OpenAIChat
from analyzer.sources.openai_usage import OpenAICosts, OpenAIUsage
from analyzer.sources.otel_genai import OtelGenAI

SOURCES: list[Source] = [
    OpenAIBatchOutput(),
    OpenAIBatchInput(),
    AnthropicBatchResults(),
    LiteLLMPayload(),
    LiteLLMSpendLog(),
    ClaudeCode(),
    MiniSweAgentTrajectory(),
    BedrockInvocationLog(),
    BedrockInvokeModel(),
    BedrockConverse(),
    GeminiGenerateContent(),
    Anthropic(),
    OpenAIChat(),
    CodexSession(),
    LangfuseBatch(),
    OtelGenAI(),
    LlmLogsDb(),
    MooncakeTrace(),
    ClineTask(),
    OpenAIUsage(),
    OpenAICosts(),
    AnthropicUsageReport(),
    AnthropicCostReport(),
    ClaudeCodeUsageReport(),
]
BY_NAME: dict[str, Source] = {s.name: s for s in SOURCES}
SNIFF_RECORDS = 50  # records looked at together to recognise a format (the error names the first's keys)
# A file's format is looked for until a record shows it, however late (a proxy log may open with many events that
# are not calls); a pipe's records read meanwhile are held, up to this many.
SNIFF_PIPE_RECORDS = 200_000
# Formats whose records may share one file with another's (a gateway logging OpenAI and Anthropic calls in one
# envelope): a record the file's format does not recognise is read by the one of these that does. Not the formats
# whose records depend on one another or on other files, nor the usage exports (aggregates, not calls).
MIXABLE = [
    s
    for s in SOURCES
    if s.name
    in {
        "litellm_payload",
        "litellm_spend_log",
        "claude_code",
        "bedrock_invocation_log",
        "bedrock_converse",
        "gemini_generate_content",
        "anthropic_messages",
        "openai_chat",
        "langfuse",
        "otel_genai",
    }
]

__all__ = [
    "BY_NAME",
    "SOURCES",
    "Item",
    "RecordError",
    "Request",
    "Source",
    "detect_format",
    "read_items",
    "records_of",
    "sniff_source",
]


UNENDED = "unended"  # Item.unit of a last line with no line end that is not valid JSON yet: not read, only said


@dataclass(slots=True)
class Item:
    """One record of a file before parsing: a JSON value, or why it is not one."""

    line: int  # 1-based line (JSONL) or element number (a JSON array document)
    unit: str  # "line", "item", "row" (of llm's responses table) or "turn" (of its turns table)
    obj: Any
    error: str | None
    raw: bytes | None

    def location(self, path: Path) -> str:
        name = label(path)
        if self.unit == "row":
            return f"{name}:responses[rowid {self.line}]"
        if self.unit == "turn":
            return f"{name}:turns[rowid {self.line}]"
        return f"{name}:{self.line}" if self.unit == "line" else f"{name}[{self.line}]"


def read_items(path: Path, digest: Digest | None = None) -> Generator[Item, None, None]:
    """Every record of a JSONL file, of a JSON document (one object or an array of them), in one pass over the
    file (a pipe can be read only once), or of an llm logs.db (SQLite: one record per row of its responses
    table). `digest` receives the bytes read."""
    if inputs.starts_with(path, SQLITE_MAGIC):
        if digest is not None:  # SQLite reads the file itself: hash it, so that two databases are told apart
            inputs.hash_into(path, digest)
        for table, rowid, row in sqlite_rows(path):
            yield Item(rowid, "row" if table == "responses" else "turn", row, None, None)
        return
    stream = ByteStream(path, digest)
    chunks = stream.chunks()
    try:
        head = b""
        for c in chunks:
            head += c
            if len(head) >= 1 << 16:
                break
        start = head.lstrip()
        if start[:1] in (b"[", b"{"):
            first_line = _LINE_END.split(start, 1)[0]
            try:
                loads(first_line)
                is_document = first_line.strip()[:1] == b"["
            except orjson.JSONDecodeError:
                is_document = True
            if is_document:
                body = bytearray(head)
                for c in chunks:
                    body += c
                    if len(body) > inputs.MAX_DOCUMENT_BYTES:
                        yield Item(
                            1,
                            "item",
                            None,
                            f"JSON document larger than {inputs.MAX_DOCUMENT_BYTES >> 20} MiB, not read "
                            "(LLMCOST_MAX_DOCUMENT_MB raises the limit; JSONL is read record by record)",
                            None,
                        )
                        return
                if stream.damage is None and _containers(body) > MAX_DOCUMENT_CONTAINERS:
                    yield from _big_document(body)
                    return
                try:
                    doc = loads(body) if stream.damage is None else None
                except orjson.JSONDecodeError:
                    doc = None  # not one document after all: JSONL whose first line is broken
                if doc is not None:
                    values = doc if isinstance(doc, list) else [doc]
                    for n, v in enumerate(values, 1):
                        yield Item(n, "item", v, None, None)
                    return
                yield from _line_items(split_lines([bytes(body)], stream))
                return
        yield from _line_items(split_lines(itertools.chain([head], chunks), stream))
    finally:
        chunks.close()


# A JSON document is parsed whole only while its objects and arrays are few enough: each costs ~60-100 bytes as
# a Python object, so a 40 KB .json.gz holding 14 million `{}` (42 MB) peaked at 1.6 GB. Past this, an array's
# elements are read one at a time and any other document is refused in one line.
MAX_DOCUMENT_CONTAINERS = 1_000_000
_SMALL = 1 << 16  # a line shorter than this cannot hold more containers than the limit allows worth counting
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.DOTALL)


def _containers(body: bytes | bytearray) -> int:
    """An upper bound on the objects and arrays of a document (brackets inside strings count too), at C speed."""
    return body.count(b"{") + body.count(b"[")


def _big_document(body: bytes | bytearray) -> Iterator[Item]:
    """The elements of a top-level array, parsed a window of elements at a time, so memory holds the bytes and
    one window's values; a document that is not an array is refused.

    A window ends at a comma chosen among the first few after WINDOW bytes: wrapped in brackets it parses only if
    that comma separates two elements of the array (one inside a string or a nested value leaves the text
    unbalanced), which orjson checks at C speed. Where no such comma is found soon, or an element is broken, the
    elements are delimited token by token instead (slower, exact, each broken one its own reject)."""
    data = bytes(body)
    first = len(data) - len(data.lstrip())
    if data[first : first + 1] != b"[":
        yield Item(
            1,
            "item",
            None,
            f"JSON document with over {MAX_DOCUMENT_CONTAINERS:,} objects and arrays that is not an array of "
            "records, not read whole (as JSONL it would be read record by record)",
            None,
        )
        return
    tail = data.rstrip()
    close = len(tail) - 1 if tail.endswith(b"]") else len(data)
    pos, n = first + 1, 0
    while pos < close:
        values = None
        cut = close
        candidates = _BOUNDARY.finditer(data, pos + _WINDOW, close) if pos + _WINDOW < close else iter(())
        for _ in range(_ATTEMPTS):
            m = next(candidates, None)
            cut = close if m is None else m.end() - 1
            try:
                values = orjson.loads(b"[" + data[pos:cut] + b"]")
                break
            except orjson.JSONDecodeError:
                if cut >= close:
                    break
        if values is not None:
            for v in values:
                n += 1
                yield Item(n, "item", v, None, None)
            pos = cut + 1
            continue
        for item, after in _scan_elements(data, pos, close, n, pos + _WINDOW):
            if item is not None:
                n = item.line
                yield item
            pos = after


_WINDOW = 1 << 20  # bytes of elements parsed at once
_ATTEMPTS = 8  # commas tried as a window's end before delimiting token by token
# A comma after a value's end: where an element of an array of records most likely ends
_BOUNDARY = re.compile(rb'[}\]"el\d]\s*,')


def _scan_elements(data: bytes, pos: int, close: int, n: int, stop: int) -> Iterator[tuple[Item | None, int]]:
    """Elements of the array from `pos` (just after a comma or the opening bracket), token by token, until the
    first one that ends at or past `stop` or the array's end; each with the position after it."""
    depth, start = 1, pos
    for m in _TOKEN.finditer(data, pos, close + 1):
        c = data[m.start()]
        if c == 0x22:  # a string, whole
            continue
        if c in (0x5B, 0x7B):  # [ {
            depth += 1
            continue
        if c == 0x2C and depth != 1:  # a comma inside an element
            continue
        if c in (0x5D, 0x7D):  # ] }
            depth -= 1
            if depth > 0:
                continue
        end = m.start()
        piece = data[start:end]
        if not piece.strip():  # "[]", or nothing after a last comma
            if depth <= 0 or end >= close:
                yield None, close
                return
            start = end + 1
            continue
        n += 1
        try:
            item = Item(n, "item", loads(piece), None, None)  # what RFC 8259 allows (item 4)
        except orjson.JSONDecodeError as e:
            item = Item(n, "item", None, f"not valid JSON ({str(e).split(':')[0]})", None)
        start = end + 1
        if depth <= 0 or end >= close:
            yield item, close
            return
        yield item, start
        if start >= stop:
            return
    if data[start:close].strip():  # no closing bracket: the document was cut short
        yield Item(n + 1, "item", None, "JSON document ends inside this element (cut short)", None), close
    else:
        yield None, close


def range_items(path: Path, start: int, end: int, ends: list[int]) -> Iterator[Item]:
    """The records of bytes [start, end) of a JSONL file (cut at line ends), numbered from 1 within the range;
    `ends` receives the number of line ends the range held, to number the next range's lines on from it."""
    stream = RangeStream(path, start, end)
    yield from _line_items(split_lines(stream.chunks(), stream, ends))


_LINE_END = re.compile(rb"\r\n|\r|\n")


def loads(data: bytes | bytearray) -> Any:
    """A JSON text as RFC 8259 allows it. orjson refuses a few things the grammar allows: an escaped lone
    surrogate (`"\\ud800"`, which a logger cutting a string between a surrogate pair writes) and a number too
    large for a double (`1e400`). Those are read by the standard library instead: a lone surrogate becomes
    U+FFFD, such a number infinity (which no count or amount accepts). Nesting deeper than orjson's limit stays
    refused."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        why = str(e)
        if "surrogate" not in why and "infinity" not in why:
            raise  # invalid JSON, or nested deeper than orjson allows: nothing to read again
        try:
            text = bytes(data).decode("utf-8")
            value = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise e from None
        return _no_surrogates(value)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(s: str) -> str:
    return _SURROGATE.sub("\ufffd", s)


def _no_surrogates(value: Any) -> Any:
    """The value with every lone surrogate in its strings and keys replaced by U+FFFD (no recursion: the
    value may be nested as deep as the parser allowed)."""
    if isinstance(value, str):
        return _clean(value)
    if not isinstance(value, dict | list):
        return value
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        v = parent[key]
        if isinstance(v, str):
            parent[key] = _clean(v)
        elif isinstance(v, list):
            stack.extend((v, i) for i in range(len(v)))
        elif isinstance(v, dict):
            if any(isinstance(k, str) and _SURROGATE.search(k) for k in v):
                v = parent[key] = {_clean(k): x for k, x in v.items()}
            stack.extend((v, k) for k in v)
    return root[0]


def _line_items(lines: Iterator[Line]) -> Iterator[Item]:
    for ln in lines:
        if ln.data is None:
            yield Item(ln.number, "line", None, ln.error, None)
            continue
        if len(ln.data) > _SMALL and _containers(ln.data) > MAX_DOCUMENT_CONTAINERS:
            why = f"record with over {MAX_DOCUMENT_CONTAINERS:,} objects and arrays, not read"
            yield Item(ln.number, "line", None, why, ln.data[:200])
            continue
        try:
            yield Item(ln.number, "line", loads(ln.data), None, ln.data)
        except orjson.JSONDecodeError as e:
            if ln.unended:
                # A live log's last line, still being written: not read yet (nor rejected), but said (an UNENDED
                # item, which the parse counts on the file). The file's hash covers it, so once the line is
                # complete the grown file is read again and its records before are duplicates.
                yield Item(ln.number, UNENDED, None, None, None)
                return
            yield Item(ln.number, "line", None, f"not valid JSON ({str(e).split(':')[0]})", ln.data)


def detect_format(path: Path, items: list[Item]) -> Source | None:
    objs = [i.obj for i in items if isinstance(i.obj, dict)]
    for source in SOURCES:
        if any(_sniffs(source, o) for o in objs):
            return source
    return None


def _sniffs(source: Source, obj: dict[str, Any]) -> bool:
    try:
        return source.sniff(obj)
    except RecordError:  # a broken record says nothing about the file's format
        return False


def records_of(source: Source, obj: dict[str, Any], ctx: dict[str, Any]) -> Iterator[Any]:
    """The records of one JSON object of a file detected as `source`: read by another format when the file's
    does not recognise it and that one does (unless the format was forced: ctx["per_record"] False)."""
    if ctx.get("per_record", True) and source in MIXABLE and not _sniffs(source, obj):
        for other in MIXABLE:
            if other is not source and _sniffs(other, obj):
                return other.records(obj, ctx)
        if _an_event(obj):
            return iter(())  # a proxy's own event (start-up, health check): not a call, not a reject
    return source.records(obj, ctx)


_CALL_KEYS = frozenset(
    {"model", "usage", "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "total_tokens"}
)


def _an_event(obj: dict[str, Any]) -> bool:
    """A flat object (no nested object or array) with some text (a message, a level) naming no model and no
    usage: no format's call is that bare (every one carries a request, a response or a usage object), so a log
    line like it is the logger's own. An empty object or one of bare numbers is no event: a reject."""
    values = obj.values()
    return (
        any(isinstance(v, str) for v in values)
        and not any(isinstance(v, dict | list) for v in values)
        and not any(isinstance(k, str) and k.lower() in _CALL_KEYS for k in obj)
    )


def open_source(path: Path, forced: str | None = None, digest: Digest | None = None) -> tuple[Source, Iterator[Item]]:
    """The file's format (detected from its records unless forced) and all of its records; the file
    is open until the records are read to the end or the iterator is closed."""
    it = read_items(path, digest)
    try:
        head = list(itertools.islice(it, SNIFF_RECORDS))
        more: list[Item] = []
        detected = None if forced else detect_format(path, head)
        if not forced and detected is None:
            # Read on until a record shows the format, holding what was read (a pipe is read only once).
            while len(head) + len(more) < SNIFF_PIPE_RECORDS:
                chunk = list(itertools.islice(it, SNIFF_RECORDS))
                if not chunk:
                    break
                more += chunk
                if (detected := detect_format(path, chunk)) is not None:
                    break
        source = _format_of(path, head, forced, more, detected)
    except BaseException:
        it.close()
        raise
    return source, _exploded(source, _records(head + more, it))


def sniff_source(path: Path, forced: str | None = None) -> Source:
    """The file's format, from its first records that show one, however late (never skip a file holding calls);
    the file is closed again."""
    it = read_items(path)
    try:
        head = list(itertools.islice(it, SNIFF_RECORDS))
        if forced or (detected := detect_format(path, head)) is not None:
            return _format_of(path, head, forced, detected=None if forced else detected)
        while chunk := list(itertools.islice(it, SNIFF_RECORDS)):
            if (detected := detect_format(path, chunk)) is not None:
                return _format_of(path, head, forced, chunk, detected)
        return _format_of(path, head, forced, detected=None)
    finally:
        it.close()


def _records(head: list[Item], rest: Generator[Item, None, None]) -> Iterator[Item]:
    try:
        yield from head
        yield from rest
    finally:
        rest.close()


def _has_content(path: Path) -> bool:
    """Whether a file that gave no record holds anything but blanks (its decompressed start); a pipe, read
    already, is taken to."""
    if inputs.is_stream(path):
        return True
    chunks = ByteStream(path, None).chunks()
    try:
        return bool(next(chunks, b"").strip())
    except Exception:  # noqa: BLE001 - a damaged stream: it held something
        return True
    finally:
        chunks.close()


def _format_of(
    path: Path, head: list[Item], forced: str | None, later: list[Item] | None = None, detected: Source | None = None
) -> Source:
    """The format forced or detected from the first records (`head`), else from `later` ones; the error of a
    file where none shows one names the first record's keys. `detected`: what the caller's `detect_format` of
    those records found (None: nothing, or not asked); not detected twice (the half of sniffing a folder of many
    small files that was repeated work)."""
    if forced:
        if forced not in BY_NAME:
            raise InputError(f"unknown format {forced!r}; `llmcost formats` lists them")
        return BY_NAME[forced]
    if inputs.starts_with(path, SQLITE_MAGIC):
        # Reading the rows checked its schema: an llm logs.db, even one with no call logged yet.
        return BY_NAME[LlmLogsDb.name]
    source = detected or detect_format(path, head) or (detect_format(path, later) if later else None)
    if source is None:
        head = [i for i in head if i.unit != UNENDED]  # a half-written last line is no record
        later = [i for i in later or [] if i.unit != UNENDED]
        if not head and not later:  # no complete record: nothing at all, or one line with no line end
            if _has_content(path):
                raise InputError(
                    "not JSON or JSONL (its only line has no line end and is not JSON: a record still "
                    "being written is read once it is complete)",
                    path=str(label(path)),
                )
            raise InputError("empty (no records)", path=str(label(path)))
        if not any(isinstance(i.obj, dict) for i in head):
            damaged = next((i.error for i in head if i.error and "stream" in i.error), None)
            if damaged:
                raise InputError(f"cannot decompress: {damaged}", path=str(label(path)))
            raise InputError("not JSON or JSONL (no JSON object in its first records)", path=str(label(path)))
        keys = sorted(next(i.obj for i in head if isinstance(i.obj, dict)))[:8]
        raise InputError(
            f"unrecognised format (first record has keys {', '.join(map(str, keys))}); "
            "`llmcost formats` lists the supported ones, --format forces one",
            path=str(label(path)),
        )
    return source


def _exploded(source: Source, items: Iterator[Item]) -> Iterator[Item]:
    """Records as the source counts them: a format whose one document holds many calls (an agent run) splits
    it, each call located by its element number in the document."""
    explode = getattr(source, "explode", None)
    if explode is None:
        return items
    return _split(explode, items)


def _split(explode: Any, items: Iterator[Item]) -> Iterator[Item]:
    for item in items:
        if not isinstance(item.obj, dict):
            yield item  # not JSON / not an object: rejected as it is
            continue
        for n, record in explode(item.obj):
            yield Item(n, "item", record, None, None)

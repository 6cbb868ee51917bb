"""A batch of parsed requests as Arrow tables and short lists, and the builder that fills one record by record.

Apart from the parsing loop (parse.py) as it is the one place that knows the columns a record becomes, how a
message's content is hashed and tokenized once (the memo), and when a batch is full.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from analyzer import tokens
from analyzer.ingest.identity import content_id, fingerprint, unique_id
from analyzer.ingest.schemas import (
    BLOCK_SCHEMA,
    CONTENT_SCHEMA,
    REQUEST_FIELDS,
    REQUEST_SCHEMA,
    UNIT_MESSAGE_SCHEMA,
)
from analyzer.sources import Request
from analyzer.sources.exports import PageMark, UsageBucket

BATCH_ROWS = 5_000  # requests per insert: bounds memory
BATCH_MESSAGES = 200_000  # message rows per insert: an agent's calls each re-send the whole history
BATCH_TEXT_CHARS = 32 << 20  # distinct message text per insert
CID_MEMO_CHARS = 32 << 20  # text remembered to recognise re-sent contents without hashing them again


@dataclass
class Batch:
    """Up to BATCH_ROWS requests (and BATCH_MESSAGES messages, BATCH_TEXT_CHARS of distinct text) of a unit.

    Line numbers are the unit's own (a range's count from its first line); the store adds the lines before it.
    A record without an id of its own carries its content key as request_id (`keyless`), numbered by the store.
    """

    requests: pa.Table  # REQUEST_SCHEMA (source_id 0)
    keyless: list[bool]
    messages: pa.Table  # UNIT_MESSAGE_SCHEMA: `req` is the row of the request in `requests`
    contents: pa.Table  # CONTENT_SCHEMA: every distinct content the batch's messages use, counted
    blocks: pa.Table | None  # req, position, block_hash
    rejects: list[tuple[int, str, str, str, str | None]]  # line, item unit, location suffix, reason, excerpt
    buckets: list[tuple[int, str, str, UsageBucket]]  # line, item unit, location suffix, bucket
    pages: list[PageMark]
    unended: int | None = None  # the line of a last line not read: no line end and not valid JSON yet


class Builder:
    """Requests into column lists, and each distinct content hashed and tokenized once (see Memo). Contents
    are recognised by their text first (a dict lookup: re-sent messages are the bulk), and hashed with blake2b
    only when new."""

    def __init__(self, no_text: bool, threads: int) -> None:
        self.no_text, self.threads = no_text, threads
        self.memo = _MEMO
        self._reset()

    def _reset(self) -> None:
        self.cols: dict[str, list[Any]] = {f: [] for f in REQUEST_FIELDS}
        self.keyless: list[bool] = []
        self.m_req: list[int] = []
        self.m_pos: list[int] = []
        self.m_role: list[str] = []
        self.m_cid: list[str] = []
        self.m_out: list[bool] = []
        self.m_cl: list[bool] = []
        self.m_bp: list[str | None] = []
        self.m_bpn: list[int | None] = []
        self.b_req: list[int] = []
        self.b_pos: list[int] = []
        self.b_hash: list[int] = []
        self.texts: dict[str, str] = {}  # content_id -> text, the batch's distinct contents in order of first use
        self.cl: dict[str, None] = {}  # contents cl100k-encoded requests send
        self.chars = 0
        self.rejects: list[tuple[int, str, str, str, str | None]] = []
        self.buckets: list[tuple[int, str, str, UsageBucket]] = []
        self.pages: list[PageMark] = []
        self.unended: int | None = None

    def full(self) -> bool:
        return (
            len(self.keyless) >= BATCH_ROWS
            or len(self.m_req) >= BATCH_MESSAGES
            or self.chars >= BATCH_TEXT_CHARS
            or len(self.rejects) >= BATCH_ROWS
        )

    def add(self, line: int, r: Request, keyless: bool) -> None:
        i = len(self.keyless)
        enc = tokens.encoding_for(r.model)
        cl = enc == "cl100k_base"
        memo, texts = self.memo, self.texts
        cid_of = memo.cid_of
        bps, many = r.breakpoints, r.breakpoint_blocks
        n_in = 0
        # only an id that may repeat for another call needs the record's fingerprint (item 1)
        fp = None if keyless or unique_id(r.request_id or "") else fingerprint(r)
        for pos, (role, text, is_output) in enumerate(r.messages):
            cid = cid_of.get(text)
            if cid is None:
                cid = cid_of[text] = content_id(text)
                memo.chars += len(text)
            if cid not in texts:
                texts[cid] = text
                self.chars += len(text)
            if cl:
                self.cl[cid] = None
            self.m_req.append(i)
            self.m_pos.append(pos)
            self.m_role.append(role)
            self.m_cid.append(cid)
            self.m_out.append(is_output)
            self.m_cl.append(cl)
            bp = bps.get(pos) if bps else None
            self.m_bp.append(bp)
            self.m_bpn.append(None if bp is None else many.get(pos, 1))
            n_in += not is_output
            if fp is not None:
                fp.update(f"\x00{role}\x00{is_output:d}{cid}".encode("utf-8", "surrogatepass"))
        if r.blocks:
            self.b_req.extend([i] * len(r.blocks))
            self.b_pos.extend(range(len(r.blocks)))
            self.b_hash.extend(r.blocks)
        self.keyless.append(keyless)
        for f, v in (
            ("request_id", r.request_id),
            ("source_id", 0),
            ("line", line),
            ("ts", r.ts_us),
            ("provider", r.provider),
            ("model", r.model),
            ("api_key", r.api_key),
            ("project", r.project),
            ("user", r.user),
            ("feature", r.feature),
            ("tags", r.tags),
            ("conversation_id", r.conversation_id),
            ("endpoint", r.endpoint),
            ("input_tokens", r.input_tokens),
            ("cache_read_tokens", r.cache_read_tokens),
            ("cache_write_5m_tokens", r.cache_write_5m_tokens),
            ("cache_write_1h_tokens", r.cache_write_1h_tokens),
            ("output_tokens", r.output_tokens),
            ("reasoning_tokens", r.reasoning_tokens),
            ("batch", r.batch),
            ("service_tier", r.service_tier),
            ("reported_cost", r.reported_cost),
            ("latency_ms", r.latency_ms),
            ("status", r.status),
            ("n_messages", n_in),
            ("has_tools", r.has_tools),
            ("encoding", enc),
            ("trace_ms", r.trace_ms),
            ("inference_geo", r.inference_geo),
            ("speed", r.speed),
            ("fingerprint", None if fp is None else fp.hexdigest()),
            ("usage_estimated", r.usage_estimated),
            ("units", r.units),
            ("unit", r.unit),
        ):
            self.cols[f].append(v)

    def take(self) -> Batch:
        o200k, cl100k = self.memo.counts["o200k_base"], self.memo.counts["cl100k_base"]
        texts = self.texts
        # Tokenize each new distinct content once, for every encoding it is needed in.
        for name, wanted, known in (("o200k_base", texts, o200k), ("cl100k_base", self.cl, cl100k)):
            todo = [c for c in wanted if c not in known]
            for cid, n in zip(todo, tokens.count_many([texts[c] for c in todo], name, self.threads), strict=True):
                known[cid] = n
        ids = list(texts)
        contents = pa.table(
            {
                "content_id": ids,
                "chars": [len(t) for t in texts.values()],
                "tokens_o200k": [o200k[c] for c in ids],
                "tokens_cl100k": [cl100k.get(c) for c in ids],
                "text": [None] * len(ids) if self.no_text else list(texts.values()),
            },
            schema=CONTENT_SCHEMA,
        )
        messages = pa.table(
            [
                pa.array(self.m_req, pa.int32()),
                pa.array(self.m_pos, pa.int32()),
                pa.array(self.m_role, pa.string()),
                pa.array(self.m_cid, pa.string()),
                pa.array(
                    [(cl100k if cl else o200k)[c] for c, cl in zip(self.m_cid, self.m_cl, strict=True)], pa.int32()
                ),
                pa.array(self.m_out, pa.bool_()),
                pa.array(self.m_bp, pa.string()),
                pa.array(self.m_bpn, pa.int32()),
            ],
            schema=UNIT_MESSAGE_SCHEMA,
        )
        blocks = pa.table([self.b_req, self.b_pos, self.b_hash], schema=BLOCK_SCHEMA) if self.b_req else None
        batch = Batch(
            pa.table(self.cols, schema=REQUEST_SCHEMA),
            self.keyless,
            messages,
            contents,
            blocks,
            self.rejects,
            self.buckets,
            self.pages,
            self.unended,
        )
        self._reset()
        if self.memo.chars > CID_MEMO_CHARS:
            self.memo.clear()
        return batch


class Memo:
    """Contents this process has hashed and tokenized, by text, kept from unit to unit (a worker parses many;
    the files of an agent's runs re-send the same prompts): each is hashed and counted once per process until
    CID_MEMO_CHARS of text are remembered, then the memo starts again."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.cid_of: dict[str, str] = {}
        self.counts: dict[str, dict[str, int]] = {e: {} for e in tokens.ENCODINGS}
        self.chars = 0


_MEMO = Memo()

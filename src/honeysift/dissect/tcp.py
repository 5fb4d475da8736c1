"""The TCP half of ``show``'s records: which conversations to decode (by port, else by
content), their reassembly one conversation at a time, and the spreading of that work over
processes (SMB kept in the caller; the others send back digests of their records).

Why separate from the datagrams (:func:`honeysift.dissect._decode_datagrams`): a TCP message
completes on a later frame than it starts, possibly in a later batch, so these records are
made for the whole capture before any batch is written.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from honeysift.dissect import app
from honeysift.parallel import ordered_map, workers
from honeysift.progress import Progress
from honeysift.protocols import smb2

if TYPE_CHECKING:
    from honeysift.dissect import Dissection


def decode_tcp(
    d: Dissection, mask: np.ndarray, progress: Progress | None = None,
    share: frozenset[str] | None = None,
) -> None:  # fmt: skip
    """Decode the TCP conversations that have a selected frame. ``share`` (what the output
    needs of each record; see :func:`_part_digest`): spread them over processes."""
    t, c = d.table, d.convs
    tcp = app.tcp_ok(t) & (c.conv >= 0)
    shown = np.unique(c.conv[tcp & mask])
    if shown.size == 0:
        return
    kinds: dict[int, str] = {}
    unknown: list[int] = []
    for cid, cp, spn in zip(
        shown.tolist(), c.client_port[shown].tolist(), c.server_port[shown].tolist(), strict=True
    ):
        k = app.TCP_PORTS.get(spn) or app.TCP_PORTS.get(cp)
        if k and k != "irc":
            kinds[cid] = k
        else:
            unknown.append(cid)
    rows_all = np.flatnonzero(tcp & np.isin(c.conv, shown))
    data_rows = rows_all[t.payload_len[rows_all] > 0]
    if unknown:
        # first data segment of each direction of the other conversations: HTTP/IRC sniffing
        cand = data_rows[np.isin(c.conv[data_rows], np.asarray(unknown))]
        side_key = c.conv[cand] * 2 + c.from_client[cand]
        _, at = np.unique(side_key, return_index=True)  # first occurrence: rows are sorted
        firsts = dict(zip(side_key[at].tolist(), cand[at].tolist(), strict=True))
        for cid in unknown:
            a = firsts.get(cid * 2 + 1)
            b = firsts.get(cid * 2)
            k = app.sniff_kind(d.payload(a) if a is not None else b"",
                               d.payload(b) if b is not None else b"")  # fmt: skip
            if k is None and (c.server_port[cid] in app.IRC_PORTS or c.client_port[cid] in
                              app.IRC_PORTS):  # fmt: skip
                k = "irc"  # HTTP on an IRC port is HTTP (as tshark's heuristics decide)
            if k:
                kinds[cid] = k
    if not kinds:
        return
    d.kinds = kinds
    sel = rows_all[np.isin(c.conv[rows_all], np.fromiter(kinds, np.int64, len(kinds)))]
    key = c.conv[sel] * 2 + (~c.from_client[sel]).astype(np.int64)
    order = np.argsort(key, kind="stable")
    sel, key = sel[order], key[order]
    bounds = np.flatnonzero(np.diff(key)) + 1
    starts, ends = np.r_[0, bounds], np.r_[bounds, key.size]
    plan = _TcpPlan(kinds, sel, key, starts, ends)
    parts = _partition(d, plan, share)
    if parts is None:
        _decode_part(d, plan, None, d.records, d.irregular, progress)
        return
    # one share of the conversations per process: the caller decodes share 0 into the
    # records, the others send digests of theirs (parallel.ordered_map runs item 0 here)
    for got in ordered_map(lambda i: _part_digest(d, plan, parts, i, share), len(parts)):
        if got is not None:
            _merge_digest(d, got)


@dataclass(slots=True)
class _TcpPlan:
    """The conversations to decode: their segment rows grouped per direction (``sel`` sorted by
    ``key`` = conversation * 2 + server side; group ``j`` is ``sel[starts[j]:ends[j]]``)."""

    kinds: dict[int, str]
    sel: np.ndarray
    key: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


#: TCP payload bytes (outside SMB) below which the conversations are decoded in one process
PARALLEL_TCP_MIN = 1 << 20


def _partition(
    d: Dissection, plan: _TcpPlan, share: frozenset[str] | None
) -> list[np.ndarray] | None:
    """Per process, the groups it decodes (a mask each): SMB in the caller (SMB2 names carry
    across a client's connections, in order), the other conversations spread by payload
    bytes. None: all in the caller (one process, or too little to share)."""
    procs = workers()
    if share is None or procs <= 1:
        return None
    gcid = plan.key[plan.starts] >> 1
    gbytes = np.add.reduceat(d.table.payload_len[plan.sel].astype(np.int64), plan.starts)
    cids, inv = np.unique(gcid, return_inverse=True)
    cbytes = np.bincount(inv.ravel(), weights=gbytes, minlength=cids.size)
    smb = np.fromiter((plan.kinds[x] == "smb" for x in cids.tolist()), bool, cids.size)
    if cbytes[~smb].sum() < PARALLEL_TCP_MIN:
        return None
    load = [float(cbytes[smb].sum())] + [0.0] * (procs - 1)
    owner = np.zeros(cids.size, np.int64)
    for j in np.argsort(-cbytes, kind="stable").tolist():  # biggest first, to the least loaded
        if not smb[j]:
            p = min(range(procs), key=load.__getitem__)
            owner[j] = p
            load[p] += float(cbytes[j])
    return [owner[inv.ravel()] == p for p in range(procs)]


def _decode_part(
    d: Dissection, plan: _TcpPlan, take: np.ndarray | None, out: app.Records,
    irregular: set[int], progress: Progress | None = None,
) -> None:  # fmt: skip
    """Reassemble and decode the conversations of the groups in ``take`` (all: None), one
    conversation at a time (groups are in conversation order, client side first): its
    reassembled bytes are dropped once its records are made."""
    t, sel, key = d.table, plan.sel, plan.key
    ctx = smb2.Smb2Context()
    pending: list[app.Direction | None] | None = None  # the sides of conversation ``cur``
    cur = -1
    size = int(getattr(d.cap, "size", 0) or 0)
    todo = range(plan.starts.size) if take is None else np.flatnonzero(take).tolist()
    starts, ends = plan.starts.tolist(), plan.ends.tolist()
    for j in todo:
        a, b = starts[j], ends[j]
        g = sel[a:b]
        cid, side = int(key[a] >> 1), int(key[a] & 1)
        if progress is not None:
            progress(size * a // max(key.size, 1), size)  # share of the segments done
        if cid != cur:
            if pending is not None:
                _conv_records(d, cur, plan.kinds[cur], pending, ctx, out)
            cur, pending = cid, None
        if not (t.payload_len[g] > 0).any():
            continue  # a conversation without data is not decoded
        dr = _guard_dir(t, g, d.payload)
        if dr is not None and _irregular(dr.stream):
            irregular.add(cid)
        if pending is None:
            pending = [None, None]
        pending[side] = dr
    if pending is not None:
        _conv_records(d, cur, plan.kinds[cur], pending, ctx, out)


def _part_digest(
    d: Dissection, plan: _TcpPlan, parts: list[np.ndarray], i: int, share: frozenset[str]
) -> bytes | None:
    """Share 0: decoded into ``d.records``. Others: their records as a pickled digest with
    what the output needs (``share``: "text" the -V text, "fields" the fields and the tree's
    first line; always the protocol, offset and Info text)."""
    if i == 0:
        _decode_part(d, plan, parts[0], d.records, d.irregular)
        return None
    out: app.Records = {}
    irregular: set[int] = set()
    _decode_part(d, plan, parts[i], out, irregular)
    text, flds = "text" in share, "fields" in share
    recs = [
        (fr, r.proto, r.offset, r.info, r.text() if text else None,
         r.fields() if flds else None, r.node.text if flds else None)
        for fr, rs in out.items() for r in rs
    ]  # fmt: skip
    return pickle.dumps((recs, irregular), protocol=pickle.HIGHEST_PROTOCOL)


def _merge_digest(d: Dissection, data: bytes) -> None:
    from honeysift.protocols.base import Node

    recs, irregular = pickle.loads(data)  # noqa: S301 - our own child's bytes, over a pipe
    d.irregular |= irregular
    put = d.records.setdefault
    for fr, proto, offset, info, text, flds, head in recs:
        put(fr, []).append(
            app.AppRecord(proto, Node(head if head is not None else f"[{proto}]"), offset, info,
                          _fields=flds, _text=text)
        )  # fmt: skip


def _conv_records(d: Dissection, cid: int, kind: str, dirs: list, ctx, out: app.Records) -> None:
    client, server = dirs
    c = d.convs
    try:
        app.tcp_records(kind, client, server, out, ctx, int(c.server_port[cid]))
    except Exception as exc:  # noqa: BLE001 - a decoder bug must not end the listing
        from honeysift.protocols.base import Node

        fr = int(d.table.frame[np.flatnonzero(c.conv == cid)[0]])
        out.setdefault(fr, []).append(
            app.AppRecord(kind, Node(f"[{kind}: decoder failed: {exc!r}]"))
        )


def _irregular(st) -> bool:
    """Gaps, overlapping copies or segments captured out of sequence order."""
    if st.gaps or st.overlaps or st.retransmitted_bytes:
        return True
    return bool((np.diff(st.frames.astype(np.int64)) < 0).any())


def _guard_dir(t, rows, payload) -> app.Direction | None:
    try:
        return app.reassemble(t, rows, payload)
    except Exception:  # noqa: BLE001
        return None

"""Connection state, vectorized over flows: Zeek's endpoint states, conn_state and history, and
argus's direction indicator and status.

Why from "first occurrence" facts: Zeek's TCP endpoint state machine (TCP.cc) is sequential,
but its outcome depends almost only on which control segments each side sent and in which
order (first SYN, SYN-ACK, FIN, RST and first segment of each side). Those positions are
computed for all flows at once with ``np.minimum.reduceat``, and the final states follow with
``np.select``: no per-packet Python. Cases the facts do not capture (a SYN-ACK/SYN reversal,
a SYN after a partial start) are listed in docs/flows.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# Zeek TCP endpoint states (TCP_Endpoint.h): the values only need to be distinct here.
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)
STATE_NAMES = ["INACTIVE", "SYN_SENT", "SYN_ACK_SENT", "PARTIAL", "ESTABLISHED", "CLOSED", "RESET"]

NONE = np.iinfo(np.int64).max  # "never happened" position


@dataclass(slots=True)
class Side:
    """Per-flow facts about one endpoint; positions are row numbers (``NONE`` if never)."""

    pkts: np.ndarray
    first: np.ndarray  # position of its first packet
    first_ack: np.ndarray  # bool: first packet had ACK
    syn: np.ndarray  # first SYN without ACK
    synack: np.ndarray  # first SYN with ACK
    fin: np.ndarray
    rst: np.ndarray
    quiet: np.ndarray  # bool: only empty segments without SYN/FIN/RST
    size: np.ndarray  # Zeek-style payload size from sequence numbers (TCP)


def endpoint_state(me: Side, peer: Side, is_orig: bool) -> np.ndarray:
    """Final Zeek endpoint state of *me* (TCP), per flow (TCP.cc Update*State)."""
    any_syn_me = np.minimum(me.syn, me.synack)
    any_syn_peer = np.minimum(peer.syn, peer.synack)
    if is_orig:
        base = np.select(
            [me.syn != NONE, me.synack != NONE, me.first_ack & (peer.synack < me.first)],
            [
                np.where(
                    any_syn_peer > me.syn,
                    np.where(any_syn_peer != NONE, ESTABLISHED, SYN_SENT),
                    SYN_SENT,
                ),
                SYN_ACK_SENT,
                ESTABLISHED,
            ],
            PARTIAL,
        )
    else:
        # A responder's bare ACK of an initial SYN does not make it PARTIAL (TCP.cc: "eccentric
        # TCPs ack an initial SYN prior to sending a SYN reply").
        quiet_after_syn = me.quiet & (peer.syn < me.first)
        base = np.select([any_syn_me != NONE, quiet_after_syn], [ESTABLISHED, INACTIVE], PARTIAL)
    st = np.where(me.pkts == 0, INACTIVE, base)
    st = np.where(me.fin != NONE, CLOSED, st)
    # RST: RESET, unless it came after a FIN exchange (UpdateClosedState keeps CLOSED), or the
    # peer's FIN followed our FIN+RST (UpdateEstablishedState turns it back into CLOSED).
    fin_then_rst = (me.fin < me.rst) & (me.rst != NONE)
    keep_closed = fin_then_rst & (peer.fin != NONE)
    st = np.where((me.rst != NONE) & ~keep_closed, RESET, st)
    return st


_RSTOS0 = re.compile(r"\^?S[^HAFGIQ]*R.*")


def conn_state(
    proto: np.ndarray,
    os_: np.ndarray,
    rs: np.ndarray,
    orig_pkts: np.ndarray,
    resp_pkts: np.ndarray,
    orig_size: np.ndarray,
    resp_size: np.ndarray,
    history: list[str],
) -> np.ndarray:
    """Zeek's ``conn_state()`` (scripts/base/protocols/conn/main.zeek), vectorized."""
    o_in = (os_ == INACTIVE) | (os_ == PARTIAL)
    r_in = (rs == INACTIVE) | (rs == PARTIAL)
    n = len(proto)
    hist_rstos0 = np.zeros(n, dtype=bool)
    cand = np.nonzero((os_ == RESET) & r_in & (rs != RESET))[0]
    for i in cand.tolist():
        hist_rstos0[i] = _RSTOS0.fullmatch(history[i]) is not None
    tcp = np.select(
        [
            (rs == RESET)
            & (
                (os_ == SYN_SENT)
                | (os_ == SYN_ACK_SENT)
                | ((os_ == RESET) & (orig_size == 0) & (resp_size == 0))
            ),
            (rs == RESET) & o_in,
            rs == RESET,
            (os_ == RESET) & r_in & hist_rstos0,
            (os_ == RESET) & r_in,
            os_ == RESET,
            (rs == CLOSED) & (os_ == CLOSED),
            (os_ == CLOSED) & r_in,
            os_ == CLOSED,
            (rs == CLOSED) & o_in,
            rs == CLOSED,
            (os_ == SYN_SENT) & (rs == INACTIVE),
            (os_ == ESTABLISHED) & (rs == ESTABLISHED),
        ],
        [
            "REJ",
            "RSTRH",
            "RSTR",
            "RSTOS0",
            "OTH",
            "RSTO",
            "SF",
            "SH",
            "S2",
            "SHR",
            "S3",
            "S0",
            "S1",
        ],
        "OTH",
    )
    udp = np.select(
        [(orig_pkts > 0) & (resp_pkts > 0), orig_pkts > 0, resp_pkts > 0],
        ["SF", "S0", "SHR"],
        "OTH",
    )
    return np.where(proto == 6, tcp, np.where(proto == 17, udp, "OTH")).astype(object)


# ---------------------------------------------------------------------------- history
_ONCE = b"ADIQ"
_REPEAT = b"SHFR"


def history(
    fid: np.ndarray,
    nflows: int,
    resp_row: np.ndarray,
    flags: np.ndarray,
    plen: np.ndarray,
    seq: np.ndarray,
    rxmit: np.ndarray,
    gap: np.ndarray,
    zwin: np.ndarray,
    flipped: np.ndarray,
) -> list[str]:
    """Zeek history strings (conn/main.zeek letter table) for TCP rows grouped by flow.

    Rows must be sorted by flow and, within a flow, in packet order. Upper case for the
    originator; ``a d i q`` once per direction, ``s h f r`` again only for a new sequence
    number, ``t g w`` logarithmically (1st, 10th, 100th... occurrence); ``^`` when flipped.
    """
    n = len(fid)
    out = [""] * nflows
    if n == 0:
        return ["^" if f else "" for f in flipped.tolist()]
    syn, fin, rst, ack = (flags & 2) > 0, (flags & 1) > 0, (flags & 4) > 0, (flags & 0x10) > 0
    bits = syn.astype(np.int8) + fin + rst
    main = np.zeros(n, dtype=np.uint8)
    main = np.where((bits == 0) & ack, ord("A"), main)
    main = np.where((bits == 0) & (plen > 0), ord("D"), main)
    main = np.where((bits == 1) & rst, ord("R"), main)
    main = np.where((bits == 1) & fin, ord("F"), main)
    main = np.where((bits == 1) & syn, np.where(ack, ord("H"), ord("S")), main)
    main = np.where(bits > 1, np.where(fin & rst, ord("I"), ord("Q")), main).astype(np.uint8)
    key_seq = np.where(main == ord("F"), seq + plen, seq)
    rows = np.arange(n, dtype=np.int64)
    d = resp_row.astype(np.int64)
    picked_rows, picked_sub, picked_chr = [], [], []

    once = np.isin(main, np.frombuffer(_ONCE, dtype=np.uint8))
    if once.any():
        r = rows[once]
        k = (fid[once].astype(np.int64) * 256 + main[once]) * 2 + d[once]
        _, first = np.unique(k, return_index=True)
        picked_rows.append(r[first])
        picked_sub.append(np.zeros(len(first), np.int64))
        picked_chr.append(main[once][first])
    rep = np.isin(main, np.frombuffer(_REPEAT, dtype=np.uint8))
    if rep.any():
        r = rows[rep]
        k = (fid[rep].astype(np.int64) * 256 + main[rep]) * 2 + d[rep]
        o = np.argsort(k, kind="stable")
        ks, ss = k[o], key_seq[rep][o]
        keep = np.ones(len(o), dtype=bool)
        keep[1:] = (ks[1:] != ks[:-1]) | (ss[1:] != ss[:-1])
        picked_rows.append(r[o][keep])
        picked_sub.append(np.zeros(int(keep.sum()), np.int64))
        picked_chr.append(main[rep][o][keep])
    for sub, (mask, letter) in enumerate(((zwin, "W"), (rxmit, "T"), (gap, "G")), start=1):
        if not mask.any():
            continue
        r = rows[mask]
        k = fid[mask].astype(np.int64) * 2 + d[mask]
        o = np.argsort(k, kind="stable")
        ks = k[o]
        start = np.ones(len(o), dtype=bool)
        start[1:] = ks[1:] != ks[:-1]
        idx = np.arange(len(o))
        rank = idx - np.maximum.accumulate(np.where(start, idx, 0)) + 1
        keep = np.isin(rank, 10 ** np.arange(10))
        picked_rows.append(r[o][keep])
        picked_sub.append(np.full(int(keep.sum()), sub, np.int64))
        picked_chr.append(np.full(int(keep.sum()), ord(letter), np.uint8))
    if picked_rows:
        pr = np.concatenate(picked_rows)
        ps = np.concatenate(picked_sub)
        pc = np.concatenate(picked_chr)
        o = np.argsort(pr * 4 + ps, kind="stable")
        pr, pc = pr[o], pc[o]
        lower = d[pr] == 1
        pc = np.where(lower, pc + 32, pc).astype(np.uint8)
        pf = fid[pr]
        counts = np.bincount(pf, minlength=nflows)
        buf = pc.tobytes().decode("ascii")
        ends = np.cumsum(counts).tolist()
        s = 0
        for i, e in enumerate(ends):
            if e != s:
                out[i] = buf[s:e]
            s = e
    fl = flipped.tolist()
    return ["^" + h if f else h for h, f in zip(out, fl, strict=True)]


# ---------------------------------------------------------------------------- argus
def argus_dir(
    proto: np.ndarray, orig_pkts: np.ndarray, resp_pkts: np.ndarray, certain: np.ndarray
) -> np.ndarray:
    """argus ``dir`` (ra(1)): ``->``/``<-``/``<->`` by who sent; ``?`` when the TCP initiator
    is inferred (no SYN or SYN-ACK seen)."""
    both = (orig_pkts > 0) & (resp_pkts > 0)
    only_o = (orig_pkts > 0) & ~both
    sure = np.select([both, only_o], ["<->", "->"], "<-")
    unsure = np.select([both, only_o], ["<?>", "?>"], "<?")
    d = np.where(certain | (proto != 6), sure, unsure)
    # argus prints "->" for a TCP connection whose SYN it saw, whoever replied.
    d = np.where((proto == 6) & certain & (orig_pkts > 0), "->", d)
    return d.astype(object)


# ICMP types as argus names them (argus ArgusICMP state strings, from the RFC 792 types).
_ICMP_STATE = {
    0: "ECR",
    3: "UR",
    4: "SRC",
    5: "RED",
    8: "ECO",
    9: "RTA",
    10: "RTS",
    11: "TXD",
    12: "PAR",
    13: "TST",
    14: "TSR",
    15: "IRQ",
    16: "IRR",
    17: "MAS",
    18: "MSR",
}
_ICMP6_STATE = {
    1: "UR",
    2: "PTB",
    3: "TXD",
    4: "PAR",
    128: "ECO",
    129: "ECR",
    133: "RTS",
    134: "RTA",
    135: "NBS",
    136: "NBA",
}
_UNREACH = {0: "URN", 1: "URH", 2: "URO", 3: "URP", 4: "URF"}


def argus_status(
    proto: np.ndarray,
    orig_pkts: np.ndarray,
    resp_pkts: np.ndarray,
    saw_syn: np.ndarray,
    saw_synack: np.ndarray,
    saw_fin: np.ndarray,
    saw_rst: np.ndarray,
    icmp_type: np.ndarray,
    icmp_code: np.ndarray,
) -> np.ndarray:
    """argus ``state`` column: TCP RST/FIN/REQ/CON, UDP and others CON/INT, ICMP by type."""
    both = (orig_pkts > 0) & (resp_pkts > 0)
    tcp = np.select([saw_rst, saw_fin, saw_syn & ~saw_synack & ~both], ["RST", "FIN", "REQ"], "CON")
    other = np.where(both, "CON", "INT")
    st = np.where(proto == 6, tcp, other).astype(object)
    for i in np.nonzero((proto == 1) | (proto == 58))[0].tolist():
        t, c = int(icmp_type[i]), int(icmp_code[i])
        table = _ICMP_STATE if proto[i] == 1 else _ICMP6_STATE
        name = table.get(t, "UNK")
        if name == "UR":
            name = _UNREACH.get(c, "URP") if proto[i] == 1 else ("URP" if c == 4 else "URH")
        st[i] = name
    return st

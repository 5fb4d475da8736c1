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
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Zeek TCP endpoint states (TCP_Endpoint.h): the values only need to be distinct here.
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)
STATE_NAMES = ["INACTIVE", "SYN_SENT", "SYN_ACK_SENT", "PARTIAL", "ESTABLISHED", "CLOSED", "RESET"]

NONE = np.iinfo(np.int64).max  # "never happened" position

# String columns are stored as small integer codes into these label arrays (decoded to strings
# only when rendered or asked for): 2 M flows cost 2 MB per column instead of ~120 MB of str.
CONN_STATES = np.array(
    ["OTH", "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR"],
    dtype=object,
)
DIRECTIONS = np.array(["->", "<-", "<->", "?>", "<?", "<?>"], dtype=object)
_CS = {name: i for i, name in enumerate(CONN_STATES)}
D_FWD, D_BACK, D_BOTH, D_QFWD, D_QBACK, D_QBOTH = range(6)


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


_RSTOS0 = re.compile(rb"\^?S[^HAFGIQ]*R.*", re.S)


def conn_state(
    proto: np.ndarray,
    os_: np.ndarray,
    rs: np.ndarray,
    orig_pkts: np.ndarray,
    resp_pkts: np.ndarray,
    orig_size: np.ndarray,
    resp_size: np.ndarray,
    history: Callable[[int], bytes],
) -> np.ndarray:
    """Zeek's ``conn_state()`` (scripts/base/protocols/conn/main.zeek), vectorized; codes into
    CONN_STATES. *history(i)* gives flow i's history letters (read for RSTOS0 candidates only)."""
    o_in = (os_ == INACTIVE) | (os_ == PARTIAL)
    r_in = (rs == INACTIVE) | (rs == PARTIAL)
    n = len(proto)
    hist_rstos0 = np.zeros(n, dtype=bool)
    cand = np.nonzero((os_ == RESET) & r_in & (rs != RESET))[0]
    for i in cand.tolist():
        hist_rstos0[i] = _RSTOS0.fullmatch(history(i)) is not None
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
            _CS[x]
            for x in (
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
            )
        ],
        _CS["OTH"],
    )
    udp = np.select(
        [(orig_pkts > 0) & (resp_pkts > 0), orig_pkts > 0, resp_pkts > 0],
        [_CS["SF"], _CS["S0"], _CS["SHR"]],
        _CS["OTH"],
    )
    return np.where(proto == 6, tcp, np.where(proto == 17, udp, _CS["OTH"])).astype(np.uint8)


# ---------------------------------------------------------------------------- history
_ONCE = b"ADIQ"
_REPEAT = b"SHFR"


def history_letters(
    fid: np.ndarray,
    resp_row: np.ndarray,
    flags: np.ndarray,
    plen: np.ndarray,
    seq: np.ndarray,
    rxmit: np.ndarray,
    gap: np.ndarray,
    zwin: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Zeek history letters (conn/main.zeek letter table) of TCP rows grouped by flow, as
    (flow index, letter) arrays in flow order and, within a flow, in packet order.

    Rows must be sorted by flow and, within a flow, in packet order. Upper case for the
    originator; ``a d i q`` once per direction, ``s h f r`` again only for a new sequence
    number, ``t g w`` logarithmically (1st, 10th, 100th... occurrence).
    """
    n = len(fid)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint8)
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
    if not picked_rows:
        return np.zeros(0, np.int64), np.zeros(0, np.uint8)
    pr = np.concatenate(picked_rows)
    ps = np.concatenate(picked_sub)
    pc = np.concatenate(picked_chr)
    o = np.argsort(pr * 4 + ps, kind="stable")
    pr, pc = pr[o], pc[o]
    pc = np.where(d[pr] == 1, pc + 32, pc).astype(np.uint8)
    return fid[pr].astype(np.int64), pc


def join_letters(
    nflows: int, parts: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate per-flow letters: *parts* are (flow index, letters) arrays, each in flow
    order; a flow's letters follow the order of *parts*. Returns (lengths int32, letter bytes
    uint8 in flow order): the layout of an Arrow string array, built without a Python loop."""
    counts = [np.bincount(f, minlength=nflows) for f, _ in parts]
    lengths = np.sum(counts, axis=0) if counts else np.zeros(nflows, np.int64)
    offsets = np.zeros(nflows + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.zeros(int(offsets[-1]), np.uint8)
    before = offsets[:-1].copy()
    for (f, letters), cnt in zip(parts, counts, strict=True):
        if len(f):
            first = np.zeros(nflows + 1, np.int64)
            np.cumsum(cnt, out=first[1:])
            rank = np.arange(len(f)) - first[f]
            data[before[f] + rank] = letters
        before += cnt
    return lengths.astype(np.int32), data


# ---------------------------------------------------------------------------- argus
def argus_dir(
    proto: np.ndarray, orig_pkts: np.ndarray, resp_pkts: np.ndarray, certain: np.ndarray
) -> np.ndarray:
    """argus ``dir`` (ra(1)) as codes into DIRECTIONS: ``->``/``<-``/``<->`` by who sent; ``?``
    when the TCP initiator is inferred (no SYN or SYN-ACK seen)."""
    both = (orig_pkts > 0) & (resp_pkts > 0)
    only_o = (orig_pkts > 0) & ~both
    sure = np.select([both, only_o], [D_BOTH, D_FWD], D_BACK)
    unsure = np.select([both, only_o], [D_QBOTH, D_QFWD], D_QBACK)
    d = np.where(certain | (proto != 6), sure, unsure)
    # argus prints "->" for a TCP connection whose SYN it saw, whoever replied.
    d = np.where((proto == 6) & certain & (orig_pkts > 0), D_FWD, d)
    return d.astype(np.uint8)


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

STATUSES = np.array(
    ["CON", "INT", "RST", "FIN", "REQ", "UNK"]
    + sorted(
        (set(_ICMP_STATE.values()) | set(_ICMP6_STATE.values()) | set(_UNREACH.values())) - {"UR"}
    ),
    dtype=object,
)
_ST = {name: i for i, name in enumerate(STATUSES)}


def _icmp_lut(table: dict[int, str], unreach: dict[int, str], other: str) -> np.ndarray:
    """Status code by (type, code): 256 x 256 lookup table."""
    lut = np.full((256, 256), _ST["UNK"], np.uint8)
    for t, name in table.items():
        if name == "UR":
            lut[t, :] = _ST[other]
            for c, nm in unreach.items():
                lut[t, c] = _ST[nm]
        else:
            lut[t, :] = _ST[name]
    return lut


_ICMP4_LUT = _icmp_lut(_ICMP_STATE, _UNREACH, "URP")
_ICMP6_LUT = _icmp_lut(_ICMP6_STATE, {4: "URP"}, "URH")
#: (ICMPv4, ICMPv6) status lookup tables by [type, code], for the compiled flow_states.
ICMP_LUTS = (_ICMP4_LUT, _ICMP6_LUT)


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
    """argus ``state`` column as codes into STATUSES: TCP RST/FIN/REQ/CON, UDP and others
    CON/INT, ICMP by type."""
    both = (orig_pkts > 0) & (resp_pkts > 0)
    tcp = np.select(
        [saw_rst, saw_fin, saw_syn & ~saw_synack & ~both], [_ST["RST"], _ST["FIN"], _ST["REQ"]], 0
    )
    other = np.where(both, _ST["CON"], _ST["INT"])
    t, c = icmp_type.astype(np.int64), icmp_code.astype(np.int64)
    st = np.where(proto == 6, tcp, other)
    st = np.where(proto == 1, _ICMP4_LUT[t, c], st)
    st = np.where(proto == 58, _ICMP6_LUT[t, c], st)
    return st.astype(np.uint8)

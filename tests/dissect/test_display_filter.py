"""The display-filter subset: grammar, Wireshark semantics, errors that point at the token."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeysift.errors import FilterError
from honeysift.filters.display import compile_display

FRAME = {
    "ip.addr": ["10.0.0.1", "192.168.1.5"],
    "ip.src": ["10.0.0.1"],
    "tcp.port": [1025, 139],
    "frame.number": [7],
    "smb": [True],
    "smb.path": ["\\\\PC0191\\IPC$"],
    "irc.request": ["JOIN #x\udc80"],
}


def ev(expr: str) -> bool:
    return compile_display(expr)(lambda name: FRAME.get(name, []))


@pytest.mark.parametrize(
    "expr,want",
    [
        ("smb", True),
        ("nbns", False),
        ("tcp.port == 139", True),
        ("tcp.port eq 80", False),
        ("tcp.port != 139", False),  # != means "no occurrence equals" (Wireshark 3.6+)
        ("tcp.port != 80", True),
        ("frame.number >= 7 && frame.number < 8", True),
        ("frame.number > 0x10", False),
        ("ip.addr == 192.168.0.0/16", True),
        ("ip.src == 192.168.0.0/16", False),
        ('smb.path contains "IPC$"', True),
        ('smb.path matches "(?i)ipc\\\\$$"', True),
        ("not smb or tcp.port == 139", True),
        ("!(smb and tcp.port == 80)", True),
        ("(nbns || smb) and ip.src == 10.0.0.1", True),
        ("udp.port == 137", False),
        ("udp.port != 137", False),  # comparisons on a missing field are false
        ('irc.request contains "JOIN"', True),
    ],
)
def test_semantics(expr: str, want: bool) -> None:
    assert ev(expr) is want


@pytest.mark.parametrize(
    "expr,pos",
    [("tcp.port ==", 11), ("(smb", 4), ("smb and", 7), ("tcp.port == 1 )", 14), ("", 0),
     ('a matches "("', 10), ("== 3", 0), ("smb @", 4)],
)  # fmt: skip
def test_errors_point_at_token(expr: str, pos: int) -> None:
    with pytest.raises(FilterError) as e:
        compile_display(expr)
    assert e.value.position == pos


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(FilterError):
        compile_display("(" * 5000 + "smb" + ")" * 5000)
    with pytest.raises(FilterError):
        compile_display("!" * 5000 + "smb")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='abc.=!<>()&|~ "019/:', max_size=40))
def test_fuzz_parser_raises_only_filter_error(expr: str) -> None:
    try:
        p = compile_display(expr)
    except FilterError:
        return
    p(lambda name: FRAME.get(name, []))

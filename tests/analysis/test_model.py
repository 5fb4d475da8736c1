"""plain() gives what dataclasses.asdict gives, without copying the leaves."""

from __future__ import annotations

from dataclasses import asdict

from honeysift.analysis.model import CarvedFile, Evidence, Finding, TimelineEvent, plain


def test_plain_equals_asdict() -> None:
    ev = Evidence([1, 2, 3], ["Cabc"])
    items = [
        ev,
        Finding("high", "t", "d", ev, "honeysift show x", "smb", ["1.2.3.4"], 5.0),
        TimelineEvent(1.0, "logon", "s", ["1.2.3.4"], ev, "cmd"),
    ]
    for obj in items:
        assert plain(obj) == asdict(obj)
    data = b"MZ" * 1000
    f = CarvedFile("a.exe", "smb", "1.2.3.4", "5.6.7.8", 1.0, 2000, "m", "s", "PE", True, data=data)
    d = plain(f, skip=("data",))
    want = asdict(f)
    want.pop("data")
    assert d == want and "data" not in d
    assert plain({"k": (1, [ev])}) == {"k": (1, [asdict(ev)])}

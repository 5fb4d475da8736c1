"""Address keys for whole flow columns: each distinct address gets an integer id once, so the
analysis groups and counts with numpy and turns only the addresses it reports into text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from honeysift.capture.table import address_ids, halves_to_addr, ipv4_rows


@dataclass
class AddressIds:
    orig: np.ndarray  # int64 id of each flow's originator
    resp: np.ndarray  # int64 id of each flow's responder
    hi: np.ndarray  # uint64 halves of each id's address
    lo: np.ndarray
    _text: dict[int, str]

    @classmethod
    def of(cls, flows) -> AddressIds:
        c = flows.columns
        n = len(flows)
        hi = np.concatenate([c["orig_hi"], c["resp_hi"]])
        lo = np.concatenate([c["orig_lo"], c["resp_lo"]])
        if not hi.shape[0]:
            z = np.zeros(0, np.int64)
            return cls(z, z, np.zeros(0, np.uint64), np.zeros(0, np.uint64), {})
        ids, uh, ul = address_ids(hi, lo)
        return cls(ids[:n], ids[n:], uh, ul, {})

    def text(self, i: int) -> str:
        s = self._text.get(i)
        if s is None:
            s = self._text[i] = halves_to_addr(self.hi[i], self.lo[i])
        return s

    def texts(self, ids) -> list[str]:
        return [self.text(int(i)) for i in ids]

    @property
    def count(self) -> int:
        return int(self.hi.shape[0])

    def net_key(self) -> np.ndarray:
        """A /16 (IPv4) or /48 (IPv6) key per id: hosts next to each other share it."""
        v4 = ipv4_rows(self.hi, self.lo)
        k4 = (self.lo & np.uint64(0xFFFFFFFF)) >> np.uint64(16)
        k6 = self.hi >> np.uint64(16)
        return np.where(v4, k4, k6 | np.uint64(1 << 63))

"""Protocol decoders: bytes in, typed records out (one module per protocol).

Contract shared by every module here (see docs/protocols.md):

* Parsing functions take ``bytes`` (a datagram, or a reassembled stream direction) and return
  dataclass records. They never raise on hostile input: a record that could not be fully read
  carries ``malformed`` (the reason, with the offset) and whatever was read before the damage.
* Every record has ``tree() -> Node`` (the ``show -V`` view, with tshark field names on the
  nodes) and ``fields() -> dict[str, list]`` (tshark field name -> values, for ``-T fields`` and
  ``-Y`` display filters).
* No module here imports from ``honeysift.analysis``; decoders do not decide verdicts.
"""

"""Link-layer header types: numbers and names from the tcpdump.org LINKTYPE registry."""

from __future__ import annotations

NULL = 0
EN10MB = 1
RAW_OLD_12 = 12  # DLT_RAW on most BSDs
RAW_OLD_14 = 14  # DLT_RAW on OpenBSD
RAW = 101
LOOP = 108
LINUX_SLL = 113
IPV4 = 228
IPV6 = 229
LINUX_SLL2 = 276

NAMES = {
    0: "NULL",
    1: "EN10MB",
    6: "IEEE802",
    9: "PPP",
    10: "FDDI",
    12: "RAW",
    14: "RAW",
    50: "PPP_HDLC",
    51: "PPP_ETHER",
    101: "RAW",
    104: "C_HDLC",
    105: "IEEE802_11",
    108: "LOOP",
    113: "LINUX_SLL",
    119: "PRISM_HEADER",
    127: "IEEE802_11_RADIOTAP",
    143: "DOCSIS",
    147: "USER0",
    187: "BLUETOOTH_HCI_H4",
    195: "IEEE802_15_4",
    201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    220: "USB_LINUX_MMAPPED",
    228: "IPV4",
    229: "IPV6",
    239: "NFLOG",
    249: "USBPCAP",
    276: "LINUX_SLL2",
}

DECODED = frozenset(
    {NULL, EN10MB, RAW_OLD_12, RAW_OLD_14, RAW, LOOP, LINUX_SLL, IPV4, IPV6, LINUX_SLL2}
)


def name(linktype: int) -> str:
    return NAMES.get(linktype, f"LINKTYPE_{linktype}")

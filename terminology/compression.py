"""gzip for response bodies: the stored resources' JSON compressed once and kept, joined
with per-request pieces without recompressing them.

A read or search of a full HCPCS CodeSystem is about 13.5 MB of JSON (api._StoredJson keeps
the bytes); compressing it costs a few hundred milliseconds, so it is done once per stored
resource, base and served state, and the compressed bytes are kept. A search Bundle is the
Bundle's own JSON around the stored resources' bytes (api._StoredJson.render): each piece is
compressed on its own as raw deflate ending on a byte boundary (a sync flush), so the
pieces can be joined into one gzip stream (RFC 1951 / 1952) — the frame pieces, a few
hundred bytes, are compressed per request, the stored bodies come from the cache — and the
gzip trailer's CRC-32 is combined from the pieces' CRCs (zlib's crc32_combine, below),
without reading the big bodies again.

gzip only, not br: zlib is in the standard library, every HTTP client decodes gzip, and
deflate streams can be joined this way (brotli streams cannot), while br would shave
perhaps a fifth more off bodies that are compressed once anyway, for a compiled dependency.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from terminology import settings

LEVEL = 6
"""Compression level of kept bodies (compressed once: the default level's ratio)."""
DYNAMIC_LEVEL = 4
"""Compression level of answers compressed per request (about twice as fast as 6, within a
few per cent of its size on FHIR JSON)."""
MIN_SIZE = 1024
"""Stored bodies below this many bytes go out uncompressed (gzip would save little)."""
DYNAMIC_MIN_SIZE = 8 * 1024
"""Answers made per request are compressed from this size on ($HCPCS_TX_GZIP_MIN_BYTES):
compressing a 4 KB $lookup answer costs 20-60 us, a third of the request, for 3 KB saved,
so the hot path ($lookup about 4 KB, $validate-code under 1 KB) goes out as it is, while
expansions, searches and Bundles are compressed. 1024 compresses everything worth it."""
MIN_BYTES_ENV = "HCPCS_TX_GZIP_MIN_BYTES"


def dynamic_min_size() -> int:
    return max(settings.number(MIN_BYTES_ENV, DYNAMIC_MIN_SIZE, unit="bytes"), MIN_SIZE)


# gzip member header: magic, deflate, no flags, mtime 0, no extra flags, OS unknown.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# The last deflate block: final, fixed Huffman, empty (what a finish of no input writes).
FINAL_BLOCK = b"\x03\x00"


@dataclass(frozen=True)
class Deflated:
    """One piece as raw deflate that ends on a byte boundary and is not final, so that
    pieces can be concatenated; crc and size are the uncompressed piece's."""

    raw: bytes
    crc: int
    size: int


def deflate(piece: bytes, level: int = LEVEL) -> Deflated:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw = compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return Deflated(raw, zlib.crc32(piece), len(piece))


def gzip_join(pieces: list[Deflated]) -> list[bytes]:
    """One gzip stream made of the pieces in order, as the list of byte strings to send."""
    crc, size = 0, 0
    for piece in pieces:
        crc = crc32_combine(crc, piece.crc, piece.size)
        size += piece.size
    trailer = crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little")
    return [GZIP_HEADER, *(p.raw for p in pieces if p.raw), FINAL_BLOCK + trailer]


def gzip_bytes(body: bytes, level: int = DYNAMIC_LEVEL) -> bytes:
    """A whole body as one gzip stream (an answer compressed per request)."""
    return zlib.compress(body, level, wbits=31)


def accepts_gzip(header: bytes | str | None) -> bool:
    """Whether an Accept-Encoding header admits gzip: `gzip` (or `x-gzip`) with a q above
    0, else a `*` with a q above 0. Remembered per header value (clients send a handful)."""
    if not header:
        return False
    found = _ACCEPTS.get(header)
    if found is None:
        found = _accepts_gzip(header)
        if len(_ACCEPTS) >= 256:  # values come from requests: bounded
            _ACCEPTS.clear()
        _ACCEPTS[header] = found
    return found


_ACCEPTS: dict[bytes | str, bool] = {}


def _accepts_gzip(header: bytes | str) -> bool:
    text = header.decode("latin-1") if isinstance(header, bytes) else header
    weights: dict[str, float] = {}
    for item in text.lower().split(","):
        name, _, params = item.partition(";")
        q = params.replace(" ", "").partition("q=")[2]
        try:
            weights[name.strip()] = float(q) if q else 1.0
        except ValueError:
            weights[name.strip()] = 0.0
    for name in ("gzip", "x-gzip", "*"):
        if name in weights:
            return weights[name] > 0
    return False


# --- CRC-32 of a concatenation from the parts' CRCs (zlib's crc32_combine, after zlib 1.2.12:
# multiplication by x^(8 * len2) modulo the CRC polynomial, reflected) ---------------------

_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                break
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return p


def _x2n_table() -> list[int]:
    table, p = [], 1 << 30  # x^1
    for _ in range(32):
        table.append(p)
        p = _multmodp(p, p)
    return table


_X2N = _x2n_table()


def _x2nmodp(n: int, k: int) -> int:
    p = 1 << 31  # x^0 == 1
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return p


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32 of A + B from crc1 = crc32(A), crc2 = crc32(B) and len2 = len(B)."""
    return _multmodp(_x2nmodp(len2, 3), crc1) ^ crc2

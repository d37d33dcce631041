"""The chunked gzip writer: one ordinary gzip member, whoever reads it; incompressible chunks stored."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import zlib

import pytest

from skiff.images.unpack.compression import (
    CHUNK,
    WINDOW,
    Compressor,
    decompressing,
    deflate_chunk,
    incompressible,
)

TEXT = b"".join(b"line %d of a text that compresses well\n" % i for i in range(120_000))
RANDOM = os.urandom(3 * CHUNK + 12345)
MIXED = TEXT[:CHUNK + 100] + RANDOM[:2 * CHUNK] + TEXT[CHUNK:3 * CHUNK]


def compress(data: bytes, piece: int = 1 << 20, level: int | None = None) -> bytes:
    out = io.BytesIO()
    c = Compressor(out, "gzip", level)
    for i in range(0, len(data), piece):
        c.write(data[i:i + piece])
    c.finish()
    return out.getvalue()


@pytest.mark.parametrize("data", [b"", b"x", TEXT, RANDOM, MIXED], ids=["empty", "byte", "text", "random", "mixed"])
def test_every_reader_decodes_it(data: bytes) -> None:
    out = compress(data)
    assert gzip.decompress(out) == data
    d = zlib.decompressobj(31)
    assert d.decompress(out) == data and d.eof and d.unused_data == b""  # a single member
    reader, kind = decompressing(io.BytesIO(out))
    assert kind == "gzip" and reader.read() == data
    if shutil.which("gzip"):
        p = subprocess.run(["gzip", "-dc"], input=out, capture_output=True, check=True)
        assert p.stdout == data


def test_deterministic_whatever_the_write_sizes() -> None:
    assert compress(MIXED) == compress(MIXED, piece=4096) == compress(MIXED, piece=3 * CHUNK + 1)


def test_ratio_and_stored_chunks() -> None:
    assert len(compress(TEXT)) < len(TEXT) // 5
    assert len(gzip.decompress(compress(TEXT, level=1))) == len(TEXT)
    stored = compress(RANDOM)
    assert len(RANDOM) < len(stored) < len(RANDOM) * 1.001  # stored blocks: 5 bytes per 64 KiB
    assert incompressible(RANDOM[:CHUNK]) and not incompressible(TEXT[:CHUNK])
    # matches reach back across chunk boundaries: each chunk is primed with the previous one's tail
    block = os.urandom(4096)
    chunk = block * (CHUNK // 4096)
    assert len(deflate_chunk(chunk, chunk[-WINDOW:], 6)) < len(deflate_chunk(chunk, b"", 6)) - 3000
    assert gzip.decompress(compress(chunk * 3)) == chunk * 3

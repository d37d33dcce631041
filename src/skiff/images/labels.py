"""Labels skiff puts on committed layer snapshots (a tiny module: ``save`` reads them
without importing the unpacker's thread pool)."""

from __future__ import annotations

SIZE_LABEL = "skiff.io/size"  # uncompressed bytes of the layer's tar stream

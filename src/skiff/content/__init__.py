"""Content-addressed blob storage (containerd's ``core/content``).

``LocalStore`` keeps every blob at ``blobs/sha256/<hex>`` under its root and
ingests new ones through resumable writers that verify size and digest
before an atomic rename, so a blob file that exists is always complete and
correct. ``MemoryStore`` is the same contract in memory, for unit tests.
"""

from skiff.content.local import LocalStore
from skiff.content.store import ContentStore, Info, Writer

__all__ = ["ContentStore", "Info", "LocalStore", "Writer"]

"""Open a SQLite database the way every skiff store wants it.

The image store, the snapshot metadata, the build cache and the embedded
Kubernetes storage each keep one connection shared by threads (callers hold
their own lock), in autocommit mode so transactions are explicit, with the
write-ahead log so readers never block the writer, and a 30 s busy wait so a
second process (a test beside a running daemon) queues instead of failing.
``synchronous=NORMAL`` is durable across process crashes under WAL; the API
server may ask for ``FULL`` to survive power loss as well.
"""

from __future__ import annotations

import sqlite3


def connect(path: str, schema: str = "", synchronous: str = "NORMAL") -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    if schema:
        db.executescript(schema)
    return db

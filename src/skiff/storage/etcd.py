"""``etcd://host:port``: etcd v3 through its JSON gateway (for users who outgrow one machine).

Every operation is one HTTP POST to the gateway (``/v3/kv/range``, ``/v3/kv/txn``,
``/v3/kv/compaction``); watches are ``/v3/watch`` streams of JSON lines. etcd
supplies the revisions, compare-and-swap (txn on ``mod_revision``), native
watch with previous values, and compaction (``ErrCompacted`` -> Gone).

Keys and values are base64 in the gateway's JSON; int64 fields arrive as strings.
``key_prefix`` lets several clusters share one etcd.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from skiff.errors import AlreadyExists, Conflict, Gone, NotFound, Unavailable
from skiff.storage.interface import DELETE, PUT, Event, KeyValue, ListResult, check_not_compacted, prefix_end


def _b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def _unb64(s: str | None) -> bytes:
    return base64.b64decode(s) if s else b""


class EtcdWatch:
    """A watch stream; iterating opens it, ``close`` cancels it."""

    def __init__(self, store: EtcdStorage, prefix: str, revision: int) -> None:
        self._store, self._prefix, self._revision = store, prefix, revision
        self._resp: aiohttp.ClientResponse | None = None
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        if self._resp is not None:
            self._resp.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        s = self._store
        req: dict[str, Any] = {"key": _b64(s.prefix + self._prefix),
                               "range_end": _b64(prefix_end(s.prefix + self._prefix)),
                               "prev_kv": True}
        if self._revision:
            req["start_revision"] = str(self._revision + 1)
        self._resp = await s.session.post(f"{s.endpoint}/v3/watch",
                                          data=orjson.dumps({"create_request": req}),
                                          timeout=aiohttp.ClientTimeout(total=None))
        try:
            async for line in self._resp.content:
                if self._closed:
                    return
                if not line.strip():
                    continue
                msg = orjson.loads(line)
                if "error" in msg:
                    raise Unavailable(f"etcd watch: {msg['error']}")
                res = msg.get("result") or {}
                if int(res.get("compact_revision") or 0):
                    raise Gone(f"too old resource version: {self._revision} "
                               f"({res['compact_revision']})")
                for ev in res.get("events") or []:
                    yield s._event(ev)
        except (aiohttp.ClientError, asyncio.IncompleteReadError):
            if not self._closed:
                raise Unavailable("etcd watch stream broken") from None
        finally:
            self._resp.close()


class EtcdStorage:
    def __init__(self, endpoint: str, key_prefix: str = "") -> None:
        self.endpoint = endpoint.rstrip("/")
        self.prefix = key_prefix
        self._session: aiohttp.ClientSession | None = None
        self._compacted = 0

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise Unavailable("etcd storage not started")
        return self._session

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, force_close=False),
                timeout=aiohttp.ClientTimeout(total=30))
            await self.current_revision()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            async with self.session.post(f"{self.endpoint}{path}", data=orjson.dumps(body)) as r:
                data: dict[str, Any] = orjson.loads(await r.read())
        except aiohttp.ClientError as e:
            raise Unavailable(f"etcd {self.endpoint}: {e}") from None
        if r.status != 200 or "error" in data or "code" in data:
            msg = str(data.get("error") or data.get("message") or data)
            if "compacted" in msg:
                raise Gone(f"too old resource version: {body.get('revision')} "
                           f"({self._compacted})")
            raise Unavailable(f"etcd {path}: {msg}")
        return data

    def _kv(self, kv: dict[str, Any]) -> KeyValue:
        return KeyValue(_unb64(kv["key"]).decode()[len(self.prefix):], _unb64(kv.get("value")),
                        int(kv.get("mod_revision") or 0), int(kv.get("create_revision") or 0))

    def _event(self, ev: dict[str, Any]) -> Event:
        kv = self._kv(ev["kv"])
        prev = ev.get("prev_kv")
        if ev.get("type") == "DELETE":
            return Event(DELETE, kv.key, _unb64(prev.get("value")) if prev else b"", kv.revision,
                         None, False)
        return Event(PUT, kv.key, kv.value, kv.revision,
                     _unb64(prev.get("value")) if prev else None,
                     kv.create_revision == kv.revision)

    async def get(self, key: str) -> KeyValue:
        data = await self._call("/v3/kv/range", {"key": _b64(self.prefix + key)})
        kvs = data.get("kvs") or []
        if not kvs:
            raise NotFound(f"{key} not found")
        return self._kv(kvs[0])

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0,
                   start_after: str = "", count: bool = True) -> ListResult:
        start = self.prefix + (start_after + "\x00" if start_after >= prefix else prefix)
        body: dict[str, Any] = {"key": _b64(start), "range_end": _b64(prefix_end(self.prefix +
                                                                                prefix))}
        if revision:
            body["revision"] = str(revision)
        if limit:
            body["limit"] = str(limit)
        data = await self._call("/v3/kv/range", body)
        items = [self._kv(kv) for kv in data.get("kvs") or []]
        rev = revision or int(data["header"]["revision"])
        remaining = max(0, int(data.get("count") or 0) - len(items)) if limit else 0
        return ListResult(items, rev, remaining)

    async def _txn(self, compare: builtins.list[dict[str, Any]],
                   success: builtins.list[dict[str, Any]],
                   key: str) -> tuple[bool, dict[str, Any]]:
        data = await self._call("/v3/kv/txn", {
            "compare": compare, "success": success,
            "failure": [{"request_range": {"key": _b64(self.prefix + key)}}]})
        return bool(data.get("succeeded")), data

    async def create(self, key: str, value: bytes) -> int:
        k = _b64(self.prefix + key)
        ok, data = await self._txn(
            [{"key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            [{"request_put": {"key": k, "value": _b64(value)}}], key)
        if not ok:
            raise AlreadyExists(f"{key} already exists")
        return int(data["header"]["revision"])

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        k = _b64(self.prefix + key)
        ok, data = await self._txn(
            [{"key": k, "target": "MOD", "result": "EQUAL",
              "mod_revision": str(expected_revision)}],
            [{"request_put": {"key": k, "value": _b64(value)}}], key)
        if not ok:
            self._why_not(key, data, expected_revision)
        return int(data["header"]["revision"])

    async def delete(self, key: str, expected_revision: int = 0) -> int:
        k = _b64(self.prefix + key)
        cmp = [{"key": k, "target": "MOD", "result": "EQUAL", "mod_revision":
                str(expected_revision)}] if expected_revision else \
            [{"key": k, "target": "CREATE", "result": "GREATER", "create_revision": "0"}]
        ok, data = await self._txn(cmp, [{"request_delete_range": {"key": k}}], key)
        if not ok:
            self._why_not(key, data, expected_revision)
        return int(data["header"]["revision"])

    @staticmethod
    def _why_not(key: str, data: dict[str, Any], expected: int) -> None:
        resp = (data.get("responses") or [{}])[0].get("response_range") or {}
        if not resp.get("kvs"):
            raise NotFound(f"{key} not found")
        raise Conflict(f"{key}: revision {expected} is stale")

    def watch(self, prefix: str, revision: int = 0) -> EtcdWatch:
        if revision:
            check_not_compacted(revision, self._compacted)
        return EtcdWatch(self, prefix, revision)

    async def current_revision(self) -> int:
        data = await self._call("/v3/kv/range", {"key": _b64(self.prefix + "/"), "limit": "1",
                                                 "keys_only": True})
        return int(data["header"]["revision"])

    async def compacted_revision(self) -> int:
        return self._compacted

    async def compact(self, revision: int) -> None:
        revision = min(revision, await self.current_revision())
        if revision <= self._compacted:
            return
        try:
            await self._call("/v3/kv/compaction", {"revision": str(revision), "physical": False})
        except Gone:
            pass
        self._compacted = revision

    async def _keys(self) -> builtins.list[str]:  # pragma: no cover - debugging aid
        data = await self._call("/v3/kv/range", {"key": _b64(self.prefix), "range_end":
                                                 _b64(prefix_end(self.prefix or "/")),
                                                 "keys_only": True})
        return [_unb64(kv["key"]).decode() for kv in data.get("kvs") or []]

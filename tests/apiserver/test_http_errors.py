"""Bad input always gets the right Status code and a message naming the problem, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from skiff.apiserver import APIServer

CM = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
async def http(tmp_path: object) -> AsyncIterator[tuple[aiohttp.ClientSession, APIServer]]:
    s = APIServer(f"sqlite:///{tmp_path}/db", port=0, compact_interval=0)
    await s.start()
    async with aiohttp.ClientSession(s.url) as session:
        async with session.post(CM, json={"metadata": {"name": "x"}, "data": {"a": "1"}}) as r:
            assert r.status == 201
        yield session, s
    await s.stop()


CASES = [
    ("POST", CM, b'{"metadata": {"name": ', "application/json", 400, "invalid JSON"),
    ("POST", CM, b"metadata: [", "application/yaml", 400, "YAML"),
    ("POST", CM, b'{"metadata":{"name":"t"},"data":{"a":1}}', "application/json", 400,
     "cannot unmarshal number into Go struct field ConfigMap.data.a of type string"),
    ("POST", CM + "?fieldValidation=Strict", b'{"metadata":{"name":"u"},"foo":1}',
     "application/json", 400, 'unknown field "foo"'),
    ("POST", CM, b'{"metadata":{}}', "application/json", 422, "metadata.name: Required value"),
    ("POST", CM, b'{"metadata":{"name":"Bad_Name"}}', "application/json", 422,
     'metadata.name: Invalid value: "Bad_Name"'),
    ("POST", CM, b'{"metadata":{"name":"n","namespace":"other"}}', "application/json", 400,
     "does not match the namespace"),
    ("POST", CM, b'{"metadata":{"name":"k"}}', "text/plain", 415, "unknown format"),
    ("POST", CM, b"k8s\x00garbage", "application/vnd.kubernetes.protobuf", 400, "protobuf"),
    ("PUT", CM + "/x", b'{"metadata":{"name":"y"}}', "application/json", 400,
     "does not match the name"),
    ("PATCH", CM + "/x", b'{"data":{}}', "application/xml", 415, "unknown format"),
    ("PATCH", CM + "/x", b'[{"op":"test","path":"/data/a","value":"2"}]',
     "application/json-patch+json", 422, "testing value /data/a failed"),
    ("PATCH", CM + "/x", b'[{"op":"remove","path":"/nope"}]', "application/json-patch+json",
     400, "nonexistent"),
    ("PATCH", CM + "/x", b'{"metadata":{"resourceVersion":"1"}}', "application/merge-patch+json",
     409, "the object has been modified"),
    ("PATCH", CM + "/x?fieldManager=m", b'{"data":{"a":"1"}}', "application/apply-patch+yaml",
     200, ""),
    ("GET", CM + "?labelSelector=a%20b%20c", b"", "", 400, "unable to parse requirement"),
    ("GET", CM + "?fieldSelector=data.a%3D1", b"", "", 400, "field label not supported"),
    ("GET", CM + "?limit=x", b"", "", 400, "limit"),
    ("GET", CM + "?watch=1&resourceVersion=abc", b"", "", 400, "invalid resource version"),
    ("POST", CM + "?dryRun=Some", b'{"metadata":{"name":"d"}}', "application/json", 400,
     "dryRun"),
    ("POST", CM, b'{"metadata":{"name":"big"},"data":{"a":"' + b"x" * 3_200_000 + b'"}}',
     "application/json", 413, "too large"),
    ("GET", "/api/v1/namespaces/default/nosuchthings", b"", "", 404,
     "could not find the requested resource"),
    ("GET", CM + "/missing", b"", "", 404, 'configmaps "missing" not found'),
    ("POST", CM + "/x", b"{}", "application/json", 405, "not allow"),
    ("POST", "/apis/apps/v1/namespaces/default/deployments",
     b'{"metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":'
     b'{"metadata":{"labels":{"a":"c"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}',
     "application/json", 422, "`selector` does not match template `labels`"),
]


@pytest.mark.parametrize("method,path,body,ct,code,needle", CASES,
                         ids=[f"{c[0]}-{c[4]}-{i}" for i, c in enumerate(CASES)])
async def test_bad_input(http: tuple[aiohttp.ClientSession, APIServer], method: str, path: str,
                         body: bytes, ct: str, code: int, needle: str) -> None:
    session, _ = http
    headers = {"Content-Type": ct} if ct else {}
    async with session.request(method, path, data=body or None, headers=headers) as r:
        text = await r.text()
        assert r.status == code, text
        if code >= 400:
            doc = await r.json()
            assert doc["kind"] == "Status" and doc["code"] == code
            text = doc["message"]
        assert needle in text, text


async def test_dry_run_and_noop(http: tuple[aiohttp.ClientSession, APIServer]) -> None:
    session, server = http
    rev = await server.storage.current_revision()
    async with session.post(CM + "?dryRun=All", json={"metadata": {"name": "dry"}}) as r:
        assert r.status == 201
    async with session.patch(CM + "/x", data=b'{"data":{"a":"1"}}',
                             headers={"Content-Type": "application/merge-patch+json"}) as r:
        assert r.status == 200
    assert await server.storage.current_revision() == rev        # nothing written
    async with session.get(CM + "/dry") as r:
        assert r.status == 404


async def test_terminating_namespace_forbids_create(
        http: tuple[aiohttp.ClientSession, APIServer]) -> None:
    session, _ = http
    async with session.post("/api/v1/namespaces", json={"metadata": {"name": "gone"}}) as r:
        assert r.status == 201
    async with session.delete("/api/v1/namespaces/gone") as r:
        assert r.status == 200
        assert (await r.json())["status"]["phase"] == "Terminating"
    async with session.post("/api/v1/namespaces/gone/configmaps",
                            json={"metadata": {"name": "c"}}) as r:
        assert r.status == 403 and "being terminated" in await r.text()


async def test_list_paging(http: tuple[aiohttp.ClientSession, APIServer]) -> None:
    session, _ = http
    for i in range(5):
        async with session.post(CM, json={"metadata": {"name": f"p{i}"}}) as r:
            assert r.status == 201
    names: list[str] = []
    token = ""
    while True:
        q = f"?limit=2&continue={token}" if token else "?limit=2"
        async with session.get(CM + q) as r:
            doc = await r.json()
        names += [i["metadata"]["name"] for i in doc["items"]]
        token = doc["metadata"].get("continue", "")
        if not token:
            break
        assert doc["metadata"]["remainingItemCount"] >= 1
    assert names == sorted(names) and len(names) == 7


async def test_field_validation_warn_and_ignore(
        http: tuple[aiohttp.ClientSession, APIServer]) -> None:
    session, _ = http
    async with session.post(CM + "?fieldValidation=Warn",
                            json={"metadata": {"name": "warned"}, "extra": 1}) as r:
        assert r.status == 201
        assert r.headers["Warning"] == '299 - "unknown field \\"extra\\""'
        assert "extra" not in await r.json()
    async with session.post(CM + "?fieldValidation=Ignore",
                            json={"metadata": {"name": "ignored"}, "extra": 1}) as r:
        assert r.status == 201 and "Warning" not in r.headers

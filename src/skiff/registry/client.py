"""One registry, spoken to through the OCI distribution API (``/v2/...``).

``Registry`` wraps an ``HttpClient`` for one host: it finds the scheme
(HTTPS, or plain HTTP for registries marked insecure: loopback hosts or
``--insecure``), answers authentication challenges (Basic or Bearer, see
``auth``), caches tokens per scope, and offers the verbs pull and push are
made of: manifests (GET/HEAD/PUT), blobs (HEAD/GET with ``Range``, redirects
followed without credentials), uploads (POST, cross-repository mount,
monolithic PUT, chunked PATCH + PUT).

Errors: 404 → ``NotFound``; 401/403 after authenticating → ``Unavailable``
with the registry's message; other failures → ``Unavailable``.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode, urljoin, urlsplit

from skiff.errors import Invalid, NotFound, Unavailable
from skiff.oci import mediatypes as mt
from skiff.registry.auth import Challenge, basic_header, lookup_credentials, parse_challenges
from skiff.registry.http import Body, FileBody, HttpClient, Response

LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return name in LOOPBACK or name.startswith("127.")


def first_error(eg: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first real error inside a TaskGroup's exception group (callers want that, not the group)."""
    for e in eg.exceptions:
        if isinstance(e, BaseExceptionGroup):
            return first_error(e)
        return e
    return eg


def _error_text(body: bytes) -> str:
    try:
        doc = json.loads(body)
        errs = doc.get("errors") or []
        return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}" for e in errs) or body.decode()[:200]
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:200]


class Registry:
    def __init__(self, http: HttpClient, host: str, *, insecure: bool | None = None,
                 creds: tuple[str, str] | None = None, auth_file: str | None = None) -> None:
        self.http = http
        self.host = host
        self.insecure = is_loopback(host) if insecure is None else insecure
        self.creds = creds or lookup_credentials(host, auth_file)
        self.base = ""
        self._scheme_settled = False
        self._challenge: Challenge | None = None
        self._tokens: dict[str, tuple[str, float]] = {}

    # --- connection and auth ------------------------------------------------------

    async def ping(self) -> None:
        """``GET /v2/``: check the registry answers (and learn its auth challenge)."""
        r = await self.request("GET", "/v2/", [])
        await r.release()
        if r.status != 200:
            raise Unavailable(f"registry {self.host}: GET /v2/ answered HTTP {r.status} {r.reason}")

    async def _send(self, method: str, path_or_url: str, headers: dict[str, str], body: Body) -> Response:
        """One request; the first one also settles the scheme (no separate ``GET /v2/`` probe).

        Secure registries are HTTPS. An insecure one is tried over plain
        HTTP first and, if that fails the way an HTTPS server fails plain
        HTTP (connection error, or 400 "Client sent an HTTP request to an
        HTTPS server"), over unverified HTTPS; the answer sticks.
        """
        if "://" in path_or_url:
            return await self.http.request(method, path_or_url, headers, body, verify_tls=not self.insecure)
        if not self.base:
            self.base = f"{'http' if self.insecure else 'https'}://{self.host}"
        if self._scheme_settled or not self.insecure:
            self._scheme_settled = True
            return await self.http.request(method, self.base + path_or_url, headers, body,
                                           verify_tls=not self.insecure)
        try:
            r = await self.http.request(method, self.base + path_or_url, headers, body, verify_tls=False)
            if r.status != 400 or self.base.startswith("https:"):
                self._scheme_settled = True
                return r
            await r.release()
        except Unavailable:
            if self.base.startswith("https:"):
                raise
        self.base = f"https://{self.host}"
        self._scheme_settled = True
        return await self.http.request(method, self.base + path_or_url, headers, body, verify_tls=False)

    def _learn(self, r: Response) -> None:
        for header in r.headers.get_all("www-authenticate"):
            for ch in parse_challenges(header):
                if ch.scheme in ("bearer", "basic"):
                    self._challenge = ch
                    return

    async def _authorization(self, scopes: list[str]) -> str:
        ch = self._challenge
        if ch is None:
            return ""
        if ch.scheme == "basic":
            if self.creds is None:
                raise Unavailable(f"registry {self.host} requires credentials (use --creds or skiff login)")
            return basic_header(*self.creds)
        key = " ".join(sorted(scopes))
        cached = self._tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return f"Bearer {cached[0]}"
        token, ttl = await self._fetch_token(ch, scopes)
        self._tokens[key] = (token, time.monotonic() + max(ttl - 10, 10))
        return f"Bearer {token}"

    async def _fetch_token(self, ch: Challenge, scopes: list[str]) -> tuple[str, float]:
        realm = ch.params.get("realm", "")
        if not realm:
            raise Unavailable(f"registry {self.host}: bearer challenge without a realm")
        query = [("service", ch.params["service"])] if ch.params.get("service") else []
        query += [("scope", s) for s in scopes]
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        headers = {"Authorization": basic_header(*self.creds)} if self.creds else {}
        r = await self.http.request("GET", url, headers, verify_tls=not self.insecure)
        body = await r.read()
        if r.status != 200:
            raise Unavailable(f"token request to {realm} failed: HTTP {r.status} {_error_text(body)}")
        doc = json.loads(body)
        token = doc.get("token") or doc.get("access_token")
        if not token:
            raise Unavailable(f"token response from {realm} has no token")
        return str(token), float(doc.get("expires_in") or 60)

    async def request(self, method: str, path_or_url: str, scopes: list[str], headers: dict[str, str] | None = None,
                      body: Body = None) -> Response:
        """An authenticated request; one retry after a 401 with a fresh challenge."""
        foreign = "://" in path_or_url and urlsplit(path_or_url).netloc != self.host
        for attempt in range(2):
            hdrs = dict(headers or {})
            auth = "" if foreign else await self._authorization(scopes)  # never hand credentials elsewhere
            if auth:
                hdrs["Authorization"] = auth
            r = await self._send(method, path_or_url, hdrs, body)
            if r.status != 401 or attempt == 1 or (body is not None and not isinstance(body, bytes | FileBody)):
                return r
            text = await r.read()
            before = self._challenge
            self._learn(r)
            self._tokens.clear()
            if self._challenge is None or (before == self._challenge and auth):
                raise Unavailable(f"{method} {r.url}: unauthorized: {_error_text(text)}")
        raise AssertionError("unreachable")

    async def _check(self, r: Response, what: str, ok: tuple[int, ...]) -> None:
        if r.status in ok:
            return
        body = await r.read() if r.method != "HEAD" else b""
        if r.status == 404:
            raise NotFound(f"{what}: not found ({_error_text(body)})" if body else f"{what}: not found")
        raise Unavailable(f"{what}: HTTP {r.status} {r.reason}: {_error_text(body)}")

    # --- manifests ----------------------------------------------------------------

    async def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str]:
        """(bytes, media type, Docker-Content-Digest header or "")."""
        r = await self.request("GET", f"/v2/{repo}/manifests/{ref}", [f"repository:{repo}:pull"],
                               {"Accept": mt.MANIFEST_ACCEPT})
        await self._check(r, f"manifest {repo}:{ref}", (200,))
        body = await r.read(limit=8 << 20)
        return body, r.headers.get("content-type"), r.headers.get("docker-content-digest")

    async def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        r = await self.request("PUT", f"/v2/{repo}/manifests/{ref}", [f"repository:{repo}:pull,push"],
                               {"Content-Type": media_type}, body)
        await self._check(r, f"manifest {repo}:{ref}", (200, 201, 202))
        await r.release()
        return r.headers.get("docker-content-digest")

    # --- blobs --------------------------------------------------------------------

    async def blob_exists(self, repo: str, digest: str, scopes: list[str] | None = None) -> bool:
        r = await self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scopes or [f"repository:{repo}:pull"])
        await r.release()
        if r.status == 200:
            return True
        if r.status == 404:
            return False
        raise Unavailable(f"HEAD blob {repo}@{digest}: HTTP {r.status} {r.reason}")

    async def get_blob(self, repo: str, digest: str, offset: int = 0) -> Response:
        """A response streaming the blob (from ``offset`` if the registry honours ``Range``)."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        r = await self.request("GET", f"/v2/{repo}/blobs/{digest}", [f"repository:{repo}:pull"], headers)
        for _ in range(5):
            if r.status not in (301, 302, 303, 307, 308):
                break
            location = urljoin(r.url, r.headers.get("location"))
            await r.release()
            # Storage redirects (S3, CDN) carry their own signature: never forward our credentials.
            r = await self.http.request("GET", location, headers, verify_tls=not self.insecure)
        await self._check(r, f"blob {repo}@{digest}", (200, 206))
        return r

    # --- uploads ------------------------------------------------------------------

    def _push_scopes(self, repo: str, mount_from: str = "") -> list[str]:
        scopes = [f"repository:{repo}:pull,push"]
        if mount_from:
            scopes.append(f"repository:{mount_from}:pull")
        return scopes

    async def mount_blob(self, repo: str, digest: str, from_repo: str) -> str:
        """Cross-repository mount: "" when mounted (201), else an upload location (202)."""
        q = urlencode({"mount": digest, "from": from_repo})
        r = await self.request("POST", f"/v2/{repo}/blobs/uploads/?{q}", self._push_scopes(repo, from_repo))
        await self._check(r, f"mount {digest} from {from_repo}", (201, 202))
        await r.release()
        return "" if r.status == 201 else self._location(r)

    async def start_upload(self, repo: str) -> str:
        r = await self.request("POST", f"/v2/{repo}/blobs/uploads/", self._push_scopes(repo))
        await self._check(r, f"upload to {repo}", (202,))
        await r.release()
        return self._location(r)

    def _location(self, r: Response) -> str:
        loc = r.headers.get("location")
        if not loc:
            raise Invalid.field("Location", "registry gave no upload location")
        return urljoin(r.url, loc)

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        return location + ("&" if "?" in location else "?") + urlencode({"digest": digest})

    async def upload_monolithic(self, repo: str, location: str, digest: str, body: FileBody | bytes) -> None:
        """One ``PUT <location>?digest=`` carrying the whole blob."""
        r = await self.request("PUT", self._with_digest(location, digest), self._push_scopes(repo),
                               {"Content-Type": "application/octet-stream"}, body)
        await self._check(r, f"upload {digest}", (201, 204))
        await r.release()

    async def upload_chunked(self, repo: str, location: str, digest: str, path: str, size: int,
                             chunk_size: int) -> None:
        """``PATCH`` each chunk with its ``Content-Range``, then an empty ``PUT ?digest=``."""
        offset = 0
        while offset < size:
            n = min(chunk_size, size - offset)
            r = await self.request("PATCH", location, self._push_scopes(repo),
                                   {"Content-Type": "application/octet-stream",
                                    "Content-Range": f"{offset}-{offset + n - 1}"}, FileBody(path, offset, n))
            await self._check(r, f"upload chunk of {digest}", (202, 204))
            await r.release()
            location = self._location(r) if r.headers.get("location") else location
            offset += n
        r = await self.request("PUT", self._with_digest(location, digest), self._push_scopes(repo))
        await self._check(r, f"finish upload {digest}", (201, 204))
        await r.release()

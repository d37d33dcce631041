"""Push: every blob the registry lacks (checked, mounted or uploaded, in parallel), then the manifest.

For each layer and the config: ``HEAD`` the blob in the target repository
(present: skip); else, if ``BlobLocations`` knows another repository on the
same registry that has it, ``POST ?mount=<digest>&from=<repo>`` (201:
done without moving a byte; 202: the registry declined and handed out an
upload session instead); else ``POST`` an upload session and send the blob,
either in one ``PUT ?digest=`` (monolithic, the default: one round trip,
``sendfile`` from the content store) or, with ``chunk_size``, as ``PATCH``
chunks with ``Content-Range`` and a final empty ``PUT``. Blobs are pushed as
stored: skiff never recompresses on push (layers are compressed once, when
they are created). Finally the stored manifest bytes are ``PUT`` under the
tag, so the digest the registry reports is the local one.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from skiff.errors import Invalid, NotFound, Unavailable
from skiff.oci import reference
from skiff.oci.descriptor import Descriptor
from skiff.registry.client import Registry, first_error
from skiff.registry.http import FileBody, HttpClient
from skiff.registry.locations import BlobLocations
from skiff.registry.progress import Reporter, emit

if TYPE_CHECKING:
    from skiff.images.service import ImageService

CONCURRENCY = 4


class Pusher:
    def __init__(self, svc: ImageService, *, creds: tuple[str, str] | None = None, insecure: bool | None = None,
                 progress: Reporter | None = None, chunk_size: int | None = None,
                 concurrency: int = CONCURRENCY) -> None:
        self.svc = svc
        self.creds = creds
        self.insecure = insecure
        self.progress = progress
        self.chunk_size = chunk_size
        self.concurrency = concurrency
        self.http = HttpClient()
        self.locations = BlobLocations(svc.root)

    async def __aenter__(self) -> Pusher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()

    async def push(self, ref_text: str, dest: str | None = None) -> str:
        svc = self.svc
        rec = svc.get(ref_text)
        if dest is None and not reference.is_reference(ref_text):
            raise Invalid.field("destination", "pushing an image by ID needs a destination name")
        target = reference.parse_normalized(dest or ref_text)
        insecure = self.insecure
        if insecure is None and target.domain in svc.insecure_registries:
            insecure = True
        reg = Registry(self.http, target.api_host, insecure=insecure, creds=self.creds, auth_file=svc.auth_file)
        repo = target.path
        body = svc.content.read(rec.target.digest)
        blobs = [*rec.layers, rec.manifest.config]
        sem = asyncio.Semaphore(self.concurrency)
        try:
            async with asyncio.TaskGroup() as tg:
                for b in blobs:
                    tg.create_task(self.push_blob(reg, repo, b, sem))
        except BaseExceptionGroup as eg:
            raise first_error(eg) from None
        await reg.put_manifest(repo, target.digest or target.tag, body, rec.target.media_type)
        self.locations.add(reg.host, repo, [b.digest for b in blobs])
        return rec.target.digest

    async def push_blob(self, reg: Registry, repo: str, desc: Descriptor, sem: asyncio.Semaphore) -> None:
        async with sem:
            scopes = [f"repository:{repo}:pull,push"]
            if await reg.blob_exists(repo, desc.digest, scopes):
                emit(self.progress, desc.digest, "Layer already exists", desc.size, desc.size)
                return
            location = ""
            for source in self.locations.get(desc.digest, reg.host):
                if source == repo:
                    continue
                try:
                    location = await reg.mount_blob(repo, desc.digest, source)
                except (NotFound, Unavailable):
                    continue
                if not location:
                    emit(self.progress, desc.digest, f"Mounted from {source}", desc.size, desc.size)
                    return
                break
            if not location:
                location = await reg.start_upload(repo)
            emit(self.progress, desc.digest, "Uploading", 0, desc.size)
            path = self.svc.content.path(desc.digest)
            if self.chunk_size:
                await reg.upload_chunked(repo, location, desc.digest, path, desc.size, self.chunk_size)
            else:
                await reg.upload_monolithic(repo, location, desc.digest, FileBody(path))
            emit(self.progress, desc.digest, "Pushed", desc.size, desc.size)

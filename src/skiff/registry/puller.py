"""Pull: manifest → config → layers (in parallel, verified) → snapshots, pipelined.

Steps for ``pull("busybox")``:

1. resolve the tag: ``GET /v2/library/busybox/manifests/latest`` with all four
   manifest types accepted; the digest is computed from the bytes (and must
   equal a pinned ``@sha256:`` digest);
2. an index is narrowed to this platform's manifest (fetched by digest);
3. the config blob, then every layer blob: up to ``concurrency`` at a time,
   each streamed into a content-store writer that hashes while writing and
   commits only if size and digest match; blobs already in the store are
   skipped, and a partial ingest left by an interrupted pull resumes with
   ``Range``;
4. meanwhile layer *i* is unpacked (in a worker thread) as soon as its blob
   is complete and layer *i-1* is unpacked, so unpacking overlaps the
   remaining downloads;
5. the name is pointed at the manifest.

A content lease is held throughout, so a concurrent GC cannot delete blobs
that are not yet referenced by a name.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from skiff.errors import Invalid, Unavailable
from skiff.images.record import INDEX_DIGEST_LABEL, ImageRecord
from skiff.images.unpacker import unpack
from skiff.oci import reference
from skiff.oci.descriptor import Descriptor
from skiff.oci.digest import sha256_of
from skiff.oci.image_config import ImageConfig
from skiff.oci.manifest import Index, Manifest, parse, select
from skiff.oci.platform import Platform
from skiff.registry.client import Registry, first_error
from skiff.registry.http import HttpClient
from skiff.registry.locations import BlobLocations
from skiff.registry.progress import Reporter, emit

if TYPE_CHECKING:
    from skiff.images.service import ImageService

CONCURRENCY = 3


class Puller:
    def __init__(self, svc: ImageService, *, creds: tuple[str, str] | None = None, insecure: bool | None = None,
                 progress: Reporter | None = None, concurrency: int = CONCURRENCY) -> None:
        self.svc = svc
        self.creds = creds
        self.insecure = insecure
        self.progress = progress
        self.concurrency = concurrency
        self.http = HttpClient()

    async def __aenter__(self) -> Puller:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()

    def registry(self, ref: reference.Reference) -> Registry:
        insecure = self.insecure
        if insecure is None and ref.domain in self.svc.insecure_registries:
            insecure = True
        return Registry(self.http, ref.api_host, insecure=insecure, creds=self.creds, auth_file=self.svc.auth_file)

    async def resolve(self, reg: Registry, ref: reference.Reference, platform: Platform) -> tuple[bytes, Manifest,
                                                                                                 str, str]:
        """(manifest bytes, manifest, its digest, the index digest or "")."""
        body, ctype, _ = await reg.get_manifest(ref.path, ref.object)
        digest = sha256_of(body)
        if ref.digest and digest != ref.digest:
            raise Invalid.field("manifest", f"registry sent {digest} for {ref.digest}")
        doc = parse(body, ctype)
        index_digest = ""
        if isinstance(doc, Index):
            index_digest = digest
            desc = select(doc, platform)
            body, ctype, _ = await reg.get_manifest(ref.path, desc.digest)
            digest = sha256_of(body)
            if digest != desc.digest:
                raise Invalid.field("manifest", f"registry sent {digest} for {desc.digest}")
            doc = parse(body, ctype or desc.media_type)
            if not isinstance(doc, Manifest):
                raise Invalid.field("manifest", "an index entry points at another index")
        return body, doc, digest, index_digest

    async def pull(self, ref_text: str, *, platform: Platform, unpack: bool = True) -> ImageRecord:
        ref = reference.parse_normalized(ref_text)
        reg = self.registry(ref)
        svc = self.svc
        with svc.content.lease():
            body, manifest, digest, index_digest = await self.resolve(reg, ref, platform)
            ready = [threading.Event() for _ in manifest.layers]
            stop = threading.Event()
            sem = asyncio.Semaphore(self.concurrency)
            try:
                async with asyncio.TaskGroup() as tg:
                    # The config is fetched alongside the layers: only unpacking needs its diff IDs.
                    config = tg.create_task(self.fetch_config(reg, ref.path, manifest))
                    for layer, ev in zip(manifest.layers, ready, strict=True):
                        tg.create_task(self.fetch_layer(reg, ref.path, layer, sem, ev))
                    if unpack:
                        tg.create_task(self.unpack_all(manifest.layers, config, ready, stop))
            except BaseExceptionGroup as eg:
                raise first_error(eg) from None
            finally:
                stop.set()  # an unpack thread still waiting for a blob gives up
            svc.content.write_blob(body, digest)
            name = f"{ref.name}@{ref.digest}" if ref.digest else str(ref)
            labels = {INDEX_DIGEST_LABEL: index_digest} if index_digest else {}
            svc.set_name(name, Descriptor(manifest.media_type, digest, len(body)), labels)
        BlobLocations(svc.root).add(reg.host, ref.path, [manifest.config.digest, *(d.digest for d in manifest.layers)])
        return svc.get(name)

    async def fetch_config(self, reg: Registry, repo: str, manifest: Manifest) -> list[str]:
        """Fetch and check the config; its diff IDs."""
        await self.fetch_blob(reg, repo, manifest.config, asyncio.Semaphore(1), quiet=True)
        diff_ids = ImageConfig.parse(self.svc.content.read(manifest.config.digest)).diff_ids
        if len(diff_ids) != len(manifest.layers):
            raise Invalid.field("manifest.layers", f"{len(manifest.layers)} layers but {len(diff_ids)} diff IDs")
        return diff_ids

    async def fetch_layer(self, reg: Registry, repo: str, desc: Descriptor, sem: asyncio.Semaphore,
                          ready: threading.Event) -> None:
        await self.fetch_blob(reg, repo, desc, sem)
        ready.set()

    async def fetch_blob(self, reg: Registry, repo: str, desc: Descriptor, sem: asyncio.Semaphore,
                         quiet: bool = False) -> None:
        """Download ``desc`` into the content store unless it is there (verified, resumable)."""
        store = self.svc.content
        report = None if quiet else self.progress
        if store.exists(desc.digest):
            emit(report, desc.digest, "Already exists", desc.size, desc.size)
            return
        emit(report, desc.digest, "Waiting", 0, desc.size)
        async with sem:
            ref = f"{reg.host}/{repo}@{desc.digest}"
            while True:
                try:
                    w = store.writer(ref, expected=desc.digest, total=desc.size)
                    break
                except Unavailable:  # another process is downloading it: wait for it
                    if store.exists(desc.digest):
                        return
                    await asyncio.sleep(0.05)
            try:
                if w.offset >= desc.size:
                    w.abort()
                    w = store.writer(ref, expected=desc.digest, total=desc.size)
                resp = await reg.get_blob(repo, desc.digest, w.offset)
                if w.offset and resp.status != 206:  # Range ignored: start over
                    w.abort()
                    w = store.writer(ref, expected=desc.digest, total=desc.size)
                async for chunk in resp.iter_chunks():
                    w.write(chunk)
                    if w.offset > desc.size:
                        resp.close()
                        w.abort()
                        raise Invalid.field("blob", f"{desc.digest} is larger than its {desc.size} bytes")
                    emit(report, desc.digest, "Downloading", w.offset, desc.size)
                emit(report, desc.digest, "Verifying Checksum", w.offset, desc.size)
                w.commit(desc.size, desc.digest)
            except BaseException:
                w.close()  # keep the partial bytes: the next pull resumes them
                raise
        emit(report, desc.digest, "Download complete", desc.size, desc.size)

    async def unpack_all(self, layers: tuple[Descriptor, ...], config: asyncio.Task[list[str]],
                         ready: list[threading.Event], stop: threading.Event) -> None:
        """Unpack in worker threads, each layer as soon as its blob is in (``unpacker.unpack``)."""
        diff_ids = await config

        def blob_ready(i: int) -> None:
            while not ready[i].wait(0.05):
                if stop.is_set():
                    raise Unavailable("pull abandoned")

        def on_layer(i: int, action: str) -> None:
            emit(self.progress, layers[i].digest, action, layers[i].size if action != "Extracting" else 0,
                 layers[i].size)

        await asyncio.to_thread(unpack, self.svc.content, self.svc.snapshots, layers, diff_ids,
                                blob_ready=blob_ready, on_layer=on_layer)

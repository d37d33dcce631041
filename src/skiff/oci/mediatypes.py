"""Media types of the OCI image spec and Docker's image manifest v2.

Two families describe the same things: OCI (``application/vnd.oci.…``) and
Docker schema 2 (``application/vnd.docker.…``). skiff reads both and writes
OCI unless it re-ships a document it received. Docker schema 1 is recognised
only to be refused with a clear message (the registry sends it to clients
that forget to ask for anything newer).
"""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYOUT_VERSION = "1.0.0"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
SCHEMA1 = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
CONFIGS = frozenset({OCI_CONFIG, DOCKER_CONFIG})

# The Accept header of every manifest request: all four modern types, so a
# registry never falls back to schema 1 (distribution 2.8 does, when asked
# only for OCI and the stored manifest is Docker v2s2).
MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))

# layer media type -> compression name
_LAYERS = {
    OCI_LAYER: "none", DOCKER_LAYER: "none", OCI_LAYER_NONDIST: "none",
    OCI_LAYER_GZIP: "gzip", DOCKER_LAYER_GZIP: "gzip", DOCKER_LAYER_FOREIGN: "gzip",
    OCI_LAYER_NONDIST_GZIP: "gzip", OCI_LAYER_ZSTD: "zstd",
}


def is_layer(media_type: str) -> bool:
    return media_type in _LAYERS


def layer_compression(media_type: str) -> str:
    """``none``, ``gzip`` or ``zstd`` for a layer media type; ``""`` if not a layer."""
    return _LAYERS.get(media_type, "")


def layer_type(compression: str, docker: bool = False) -> str:
    """The layer media type for a compression, in the OCI or Docker family.

    Docker schema 2 has no zstd layer type, so zstd is always OCI.
    """
    if docker and compression == "gzip":
        return DOCKER_LAYER_GZIP
    if docker and compression == "none":
        return DOCKER_LAYER
    return {"none": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}[compression]

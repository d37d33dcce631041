"""The Kubernetes API server (see ``server.APIServer`` and docs/apiserver.md)."""

from skiff.apiserver.server import APIServer, TLSFiles

__all__ = ["APIServer", "TLSFiles"]

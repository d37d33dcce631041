"""Where the API server is and how to authenticate: from a kubeconfig or given directly."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass

import yaml

from skiff.errors import Invalid


@dataclass
class Config:
    server: str
    token: str = ""
    ca_file: str = ""
    insecure_skip_tls_verify: bool = False
    namespace: str = "default"
    client_cert: str = ""
    client_key: str = ""

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https"):
            return False
        if self.insecure_skip_tls_verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        ctx = ssl.create_default_context(cafile=self.ca_file or None)
        if self.client_cert:
            ctx.load_cert_chain(self.client_cert, self.client_key or None)
        return ctx


def _inline(data: str, suffix: str) -> str:
    fd, path = tempfile.mkstemp(prefix="skiff-kubeconfig-", suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64decode(data))
    return path


def load_kubeconfig(path: str = "", context: str = "") -> Config:
    """Read ``path`` (default ``$KUBECONFIG`` or ``~/.kube/config``) for ``context``."""
    path = path or os.environ.get("KUBECONFIG", "").split(":")[0] or \
        os.path.expanduser("~/.kube/config")
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    ctx_name = context or doc.get("current-context", "")
    ctx = next((c["context"] for c in doc.get("contexts") or [] if c["name"] == ctx_name), None)
    if ctx is None:
        raise Invalid.field("context", f"context {ctx_name!r} not found in {path}")
    cluster = next(c["cluster"] for c in doc.get("clusters") or [] if c["name"] == ctx["cluster"])
    user = next((u.get("user") or {} for u in doc.get("users") or []
                 if u["name"] == ctx.get("user")), {})
    ca = cluster.get("certificate-authority") or ""
    if cluster.get("certificate-authority-data"):
        ca = _inline(cluster["certificate-authority-data"], ".crt")
    cert, key = user.get("client-certificate", ""), user.get("client-key", "")
    if user.get("client-certificate-data"):
        cert = _inline(user["client-certificate-data"], ".crt")
    if user.get("client-key-data"):
        key = _inline(user["client-key-data"], ".key")
    token = user.get("token", "")
    if not token and user.get("tokenFile"):
        with open(user["tokenFile"]) as f:
            token = f.read().strip()
    return Config(server=cluster["server"], token=token, ca_file=ca,
                  insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
                  namespace=ctx.get("namespace") or "default", client_cert=cert, client_key=key)

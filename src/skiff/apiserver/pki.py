"""Certificates and tokens for a secure API server, kept in the data directory.

``ensure_pki(dir, hosts)`` creates (once) a self-signed CA and a server
certificate for ``hosts`` with the ``openssl`` command line tool, and an
admin bearer token (``system:masters``). ``write_kubeconfig`` writes the file
kubectl and the Python client read.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import subprocess
from dataclasses import dataclass
from typing import Any

import yaml

from skiff.apiserver.auth import User


@dataclass
class PKI:
    ca_cert: str
    server_cert: str
    server_key: str
    admin_token: str

    def ca_pem(self) -> str:
        with open(self.ca_cert) as f:
            return f.read()


def _run(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def ensure_pki(directory: str, hosts: list[str]) -> PKI:
    os.makedirs(directory, mode=0o700, exist_ok=True)
    p = PKI(os.path.join(directory, "ca.crt"), os.path.join(directory, "server.crt"),
            os.path.join(directory, "server.key"), admin_token="")
    ca_key = os.path.join(directory, "ca.key")
    if not os.path.exists(p.ca_cert):
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", ca_key, "-out", p.ca_cert, "-days", "3650",
             "-subj", "/CN=skiff-ca")
    if not os.path.exists(p.server_cert):
        sans = []
        for h in sorted(set(hosts) | {"localhost", "127.0.0.1", "kubernetes",
                                      "kubernetes.default.svc", "10.96.0.1"}):
            try:
                ipaddress.ip_address(h)
                sans.append(f"IP:{h}")
            except ValueError:
                sans.append(f"DNS:{h}")
        ext = os.path.join(directory, "server.ext")
        with open(ext, "w") as f:
            f.write(f"subjectAltName={','.join(sans)}\nextendedKeyUsage=serverAuth\n")
        csr = os.path.join(directory, "server.csr")
        _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", p.server_key, "-out", csr, "-subj", "/CN=kube-apiserver")
        _run("x509", "-req", "-in", csr, "-CA", p.ca_cert, "-CAkey", ca_key, "-CAcreateserial",
             "-out", p.server_cert, "-days", "3650", "-extfile", ext)
        os.unlink(csr)
    token_file = os.path.join(directory, "admin.token")
    if not os.path.exists(token_file):
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    with open(token_file) as f:
        p.admin_token = f.read().strip()
    return p


def load_tokens(path: str) -> dict[str, User]:
    """A static token file: ``token,user,uid,"group1,group2"`` per line (upstream format)."""
    out: dict[str, User] = {}
    if not path or not os.path.exists(path):
        return out
    import csv

    with open(path, newline="") as f:
        for row in csv.reader(f):
            if len(row) >= 2 and not row[0].startswith("#"):
                groups = tuple(g for g in (row[3].split(",") if len(row) > 3 else []) if g)
                out[row[0]] = User(row[1], row[2] if len(row) > 2 else "", groups)
    return out


def write_kubeconfig(path: str, server: str, token: str = "", ca_file: str = "",
                     name: str = "skiff") -> None:
    cluster: dict[str, Any] = {"server": server}
    if ca_file:
        cluster["certificate-authority"] = os.path.abspath(ca_file)
    user: dict[str, Any] = {"token": token} if token else {}
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": name,
           "clusters": [{"name": name, "cluster": cluster}],
           "users": [{"name": f"{name}-admin", "user": user}],
           "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin",
                                                   "namespace": "default"}}],
           "preferences": {}}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    os.replace(tmp, path)

"""``skiff apiserver``: serve the Kubernetes API and write a kubeconfig.

Loopback without ``--secure`` serves plain HTTP with no authentication (and
says so); any other bind address, or ``--secure``, serves HTTPS with a
generated CA and server certificate, an admin bearer token (written into the
kubeconfig) plus optional ``--token-file`` users, and RBAC for everyone else.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import click

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def default_data_dir() -> str:
    return os.environ.get("SKIFF_DATA_DIR", os.path.expanduser("~/.local/share/skiff"))


@click.command("apiserver")
@click.option("--data-dir", default=default_data_dir, show_default="~/.local/share/skiff",
              help="state directory (database, certificates, kubeconfig)")
@click.option("--storage", "storage_url", default="",
              help="storage URL: sqlite:///path (default <data-dir>/apiserver.db), "
                   "etcd://host:port, memory://")
@click.option("--bind-address", default="127.0.0.1", show_default=True)
@click.option("--port", default=6443, show_default=True, type=int)
@click.option("--secure/--insecure-loopback", default=False,
              help="TLS + tokens + RBAC even on loopback (always on elsewhere)")
@click.option("--token-file", default="", help='extra users: token,user,uid,"group1,group2"')
@click.option("--kubeconfig", default="", help="where to write the kubeconfig "
              "(default <data-dir>/kubeconfig)")
@click.option("-v", "--verbose", is_flag=True)
def apiserver(data_dir: str, storage_url: str, bind_address: str, port: int, secure: bool,
              token_file: str, kubeconfig: str, verbose: bool) -> None:
    """Serve the Kubernetes API (kubectl and the kubernetes client work against it)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.makedirs(data_dir, exist_ok=True)
    asyncio.run(_serve(data_dir, storage_url or f"sqlite:///{data_dir}/apiserver.db",
                       bind_address, port, secure or bind_address not in LOOPBACK, token_file,
                       kubeconfig or os.path.join(data_dir, "kubeconfig")))


def tune_gc() -> None:
    """Fewer, cheaper collections: a 10,000-object list allocates ~1M containers, and the
    default thresholds would run the cyclic GC hundreds of times over the whole heap
    (measured: 3x slower decoding). Objects alive after start-up (schemas, tables) are
    frozen out of the collector's view."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


async def _serve(data_dir: str, storage_url: str, host: str, port: int, secure: bool,
                 token_file: str, kubeconfig: str) -> None:
    from skiff.apiserver.pki import ensure_pki, load_tokens, write_kubeconfig
    from skiff.apiserver.server import APIServer, TLSFiles

    pki = ensure_pki(os.path.join(data_dir, "pki"), [host])
    if secure:
        from skiff.apiserver.auth import User

        tokens = {pki.admin_token: User("skiff-admin", "admin", ("system:masters",))}
        tokens.update(load_tokens(token_file))
        server = APIServer(storage_url, host, port, tls=TLSFiles(pki.server_cert, pki.server_key),
                           tokens=tokens, ca_pem=pki.ca_pem())
    else:
        server = APIServer(storage_url, host, port, ca_pem=pki.ca_pem())
    await server.start()
    tune_gc()
    connect = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"{'https' if secure else 'http'}://{connect}:{server.port}"
    write_kubeconfig(kubeconfig, url, pki.admin_token if secure else "",
                     pki.ca_cert if secure else "")
    click.echo(f"skiff apiserver serving {url} (storage {storage_url})")
    if not secure:
        click.echo("WARNING: loopback-only development mode: no TLS, no authentication, "
                   "no authorization", err=True)
    click.echo(f"kubeconfig: {kubeconfig}   (export KUBECONFIG={kubeconfig})")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()

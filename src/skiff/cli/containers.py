"""docker-style container commands: ``skiff run|ps|logs|exec|stop|rm|...``.

They speak the Docker Engine API to skiffd (``--host``, ``$SKIFF_HOST`` or
``$DOCKER_HOST``; default ``unix:///run/skiff/docker.sock``) and print what
the docker CLI prints, so the two are interchangeable.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from skiff.cli import options
from skiff.cli.engine_client import APIError, EngineClient, demux
from skiff.errors import Invalid


def client(ctx: click.Context) -> EngineClient:
    return EngineClient(ctx.obj.get("host") if ctx.obj else None)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"Error response from daemon: {message}" if not message.startswith("Error") else message, err=True)
    raise SystemExit(code)


def _create_body(image: str, command: tuple[str, ...], o: dict[str, Any]) -> dict[str, Any]:
    env = list(o["env"])
    for path in o["env_file"]:
        env += options.env_file(path)
    exposed, bindings = options.ports(list(o["publish"]))
    for e in o["expose"]:
        exposed[e if "/" in e else f"{e}/tcp"] = {}
    labels = dict(item.split("=", 1) if "=" in item else (item, "") for item in o["label"])
    host: dict[str, Any] = {
        "Binds": list(o["volume"]) or None, "PortBindings": bindings, "AutoRemove": o["rm"],
        "NetworkMode": o["network"] or "default", "RestartPolicy": options.restart_policy(o["restart"]),
        "CapAdd": list(o["cap_add"]) or None, "CapDrop": list(o["cap_drop"]) or None,
        "Privileged": o["privileged"], "ReadonlyRootfs": o["read_only"], "SecurityOpt": list(o["security_opt"]) or None,
        "Ulimits": [options.ulimit(u) for u in o["ulimit"]] or None, "Init": o["init"] or None,
        "Tmpfs": {t.split(":", 1)[0]: (t.split(":", 1)[1] if ":" in t else "") for t in o["tmpfs"]} or None,
        "Memory": options.ram_bytes(o["memory"]) if o["memory"] else 0,
        "NanoCpus": options.nano_cpus(o["cpus"]) if o["cpus"] else 0, "CpuShares": o["cpu_shares"] or 0,
        "PidsLimit": o["pids_limit"], "Mounts": [options.mount(m) for m in o["mount"]] or None,
        "Dns": list(o["dns"]), "ExtraHosts": list(o["add_host"]) or None,
    }
    if o["memory_swap"]:
        host["MemorySwap"] = -1 if o["memory_swap"] == "-1" else options.ram_bytes(o["memory_swap"])
    if o["tty"]:
        try:
            size = os.get_terminal_size(sys.stdout.fileno())
            host["ConsoleSize"] = [size.lines, size.columns]
        except OSError:
            pass
    entrypoint = None if o["entrypoint"] is None else ([o["entrypoint"]] if o["entrypoint"] else [""])
    attach = not o["detach"]
    return {"Image": image, "Cmd": list(command) or None, "Entrypoint": entrypoint, "Env": env,
            "WorkingDir": o["workdir"] or "", "User": o["user"] or "", "Hostname": o["hostname"] or "",
            "Labels": labels, "ExposedPorts": exposed, "Tty": o["tty"], "OpenStdin": o["interactive"],
            "StdinOnce": o["interactive"] and attach, "AttachStdin": o["interactive"] and attach,
            "AttachStdout": attach, "AttachStderr": attach, "StopSignal": o["stop_signal"],
            "StopTimeout": o["stop_timeout"], "HostConfig": host}


_RUN_OPTIONS = [
    click.option("-d", "--detach", is_flag=True), click.option("--rm", is_flag=True),
    click.option("-i", "--interactive", is_flag=True), click.option("-t", "--tty", is_flag=True),
    click.option("--name"), click.option("-e", "--env", multiple=True), click.option("--env-file", multiple=True),
    click.option("-w", "--workdir"), click.option("-u", "--user"), click.option("--entrypoint"),
    click.option("-h", "--hostname"), click.option("-l", "--label", multiple=True),
    click.option("--init", is_flag=True),
    click.option("--read-only", is_flag=True), click.option("--tmpfs", multiple=True),
    click.option("--cap-add", multiple=True), click.option("--cap-drop", multiple=True),
    click.option("--privileged", is_flag=True), click.option("--security-opt", multiple=True),
    click.option("--ulimit", multiple=True), click.option("-m", "--memory"), click.option("--memory-swap"),
    click.option("--cpus"), click.option("--cpu-shares", type=int), click.option("--pids-limit", type=int),
    click.option("--restart", default="no"), click.option("--stop-signal"), click.option("--stop-timeout", type=int),
    click.option("-v", "--volume", multiple=True), click.option("--mount", multiple=True),
    click.option("-p", "--publish", multiple=True), click.option("--expose", multiple=True),
    click.option("--network", "--net"), click.option("--dns", multiple=True), click.option("--add-host", multiple=True),
]


def run_options(fn: Any) -> Any:
    for opt in reversed(_RUN_OPTIONS):
        fn = opt(fn)
    return fn


def _create(c: EngineClient, image: str, command: tuple[str, ...], o: dict[str, Any]) -> str:
    try:
        body = _create_body(image, command, o)
    except Invalid as e:
        fail(e.causes[0].message if e.causes else e.message, 125)
    query = {"name": o["name"]} if o["name"] else None
    try:
        return str(c.json("POST", "/containers/create", query, body)["Id"])
    except APIError as e:
        if e.status != 404 or "No such image" not in e.message:
            fail(e.message, 125)
    click.echo(f"Unable to find image '{image}' locally", err=True)
    try:
        repo, tag = (image.rsplit(":", 1) if ":" in image.split("/")[-1] else (image, "latest"))
        for msg in c.stream_json("POST", "/images/create", {"fromImage": repo, "tag": tag}):
            if "error" in msg:
                fail(msg["error"], 125)
        return str(c.json("POST", "/containers/create", query, body)["Id"])
    except APIError as e:
        fail(e.message, 125)
    raise AssertionError("unreachable")


def register(cli: click.Group) -> None:
    @cli.command(context_settings={"allow_interspersed_args": False})
    @run_options
    @click.argument("image")
    @click.argument("command", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def run(ctx: click.Context, /, image: str, command: tuple[str, ...], **o: Any) -> None:
        """Create and run a container (like `docker run`)."""
        c = client(ctx)
        cid = _create(c, image, command, o)
        if o["detach"]:
            try:
                c.request("POST", f"/containers/{cid}/start").read()
            except APIError as e:
                fail(e.message, 125)
            click.echo(cid)
            return
        raise SystemExit(_attached_run(c, cid, o))

    @cli.command(context_settings={"allow_interspersed_args": False})
    @run_options
    @click.argument("image")
    @click.argument("command", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def create(ctx: click.Context, /, image: str, command: tuple[str, ...], **o: Any) -> None:
        """Create a container without starting it."""
        o["detach"] = True
        click.echo(_create(client(ctx), image, command, o))

    @cli.command()
    @click.option("-a", "--all", "all_", is_flag=True)
    @click.option("-q", "--quiet", is_flag=True)
    @click.option("-f", "--filter", "filters", multiple=True)
    @click.option("--format", "fmt")
    @click.option("-n", "--last", type=int, default=-1)
    @click.pass_context
    def ps(ctx: click.Context, all_: bool, quiet: bool, filters: tuple[str, ...], fmt: str | None, last: int) -> None:
        """List containers."""
        f: dict[str, dict[str, bool]] = {}
        for item in filters:
            k, _, v = item.partition("=")
            f.setdefault(k, {})[v] = True
        rows = client(ctx).json("GET", "/containers/json", {"all": int(all_), "limit": last if last > 0 else None,
                                                            "filters": json.dumps(f) if f else None})
        if quiet:
            for r in rows:
                click.echo(r["Id"][:12])
            return
        if fmt == "json":
            for r in rows:
                click.echo(json.dumps(r))
            return
        table = [("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")]
        for r in rows:
            cmd = r["Command"] if len(r["Command"]) <= 20 else r["Command"][:19] + "…"
            ports = ", ".join(_port_text(p) for p in r["Ports"])
            table.append((r["Id"][:12], r["Image"], f'"{cmd}"', _ago(r["Created"]), r["Status"], ports,
                          ",".join(n.lstrip("/") for n in r["Names"])))
        _print_table(table)

    @cli.command()
    @click.option("-f", "--follow", is_flag=True)
    @click.option("-t", "--timestamps", is_flag=True)
    @click.option("-n", "--tail", default="all")
    @click.option("--since")
    @click.argument("container")
    @click.pass_context
    def logs(ctx: click.Context, follow: bool, timestamps: bool, tail: str, since: str | None, container: str) -> None:
        """Fetch the logs of a container."""
        c = client(ctx)
        try:
            info = c.json("GET", f"/containers/{container}/json")
            resp = c.request("GET", f"/containers/{info['Id']}/logs",
                             {"stdout": 1, "stderr": 1, "follow": int(follow), "timestamps": int(timestamps),
                              "tail": tail, "since": since})
        except APIError as e:
            fail(e.message)
        _copy_stream(resp, bool(info["Config"].get("Tty")))

    @cli.command("exec", context_settings={"allow_interspersed_args": False})
    @click.option("-i", "--interactive", is_flag=True)
    @click.option("-t", "--tty", is_flag=True)
    @click.option("-d", "--detach", is_flag=True)
    @click.option("-e", "--env", multiple=True)
    @click.option("-u", "--user")
    @click.option("-w", "--workdir")
    @click.option("--privileged", is_flag=True)
    @click.argument("container")
    @click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
    @click.pass_context
    def exec_(ctx: click.Context, /, container: str, command: tuple[str, ...], **o: Any) -> None:
        """Run a command in a running container."""
        c = client(ctx)
        body = {"Cmd": list(command), "Env": list(o["env"]) or None, "User": o["user"] or "",
                "WorkingDir": o["workdir"] or "", "Tty": o["tty"], "AttachStdin": o["interactive"],
                "AttachStdout": not o["detach"], "AttachStderr": not o["detach"], "Privileged": o["privileged"]}
        try:
            eid = c.json("POST", f"/containers/{container}/exec", body=body)["Id"]
            if o["detach"]:
                c.request("POST", f"/exec/{eid}/start", body={"Detach": True}).read()
                return
            sock = c.hijack(f"/exec/{eid}/start", body={"Detach": False, "Tty": o["tty"]})
        except APIError as e:
            fail(e.message, 126 if e.status == 409 else 1)
        _pump(sock, o["tty"], o["interactive"], lambda h, w: c.request("POST", f"/exec/{eid}/resize",
                                                                        {"h": h, "w": w}).read())
        raise SystemExit(c.json("GET", f"/exec/{eid}/json")["ExitCode"] or 0)

    def simple(name: str, method: str, path: str, doc: str, **extra: Any) -> None:
        @cli.command(name, help=doc)
        @click.argument("containers", nargs=-1, required=True)
        @click.option("-t", "--time", "timeout", type=int, default=None)
        @click.option("-s", "--signal", "sig", default=None)
        @click.option("-f", "--force", is_flag=True)
        @click.option("-v", "--volumes", is_flag=True)
        @click.pass_context
        def cmd(ctx: click.Context, containers: tuple[str, ...], timeout: int | None, sig: str | None, force: bool,
                volumes: bool) -> None:
            c = client(ctx)
            failed = False
            for ref in containers:
                query = {"t": timeout, "signal": sig, "force": int(force) if force else None,
                         "v": int(volumes) if volumes else None}
                try:
                    c.request(method, path.format(ref), query).read()
                    click.echo(ref)
                except APIError as e:
                    click.echo(f"Error response from daemon: {e.message}", err=True)
                    failed = failed or not (e.status == 404 and force)
            if failed:
                raise SystemExit(1)

    simple("start", "POST", "/containers/{}/start", "Start stopped containers.")
    simple("stop", "POST", "/containers/{}/stop", "Stop running containers (SIGTERM, then SIGKILL).")
    simple("restart", "POST", "/containers/{}/restart", "Restart containers.")
    simple("kill", "POST", "/containers/{}/kill", "Send a signal (default SIGKILL) to containers.")
    simple("rm", "DELETE", "/containers/{}", "Remove containers.")
    simple("pause", "POST", "/containers/{}/pause", "Freeze all processes of containers.")
    simple("unpause", "POST", "/containers/{}/unpause", "Thaw paused containers.")

    @cli.command()
    @click.argument("refs", nargs=-1, required=True)
    @click.option("-f", "--format", "fmt")
    @click.pass_context
    def inspect(ctx: click.Context, refs: tuple[str, ...], fmt: str | None) -> None:
        """Low-level information on containers, images, volumes or networks."""
        c = client(ctx)
        out = []
        for ref in refs:
            for path in (f"/containers/{ref}/json", f"/images/{ref}/json", f"/networks/{ref}", f"/volumes/{ref}"):
                try:
                    out.append(c.json("GET", path))
                    break
                except APIError as e:
                    if e.status != 404:
                        fail(e.message)
            else:
                click.echo(json.dumps(out, indent=4))
                fail(f"Error: No such object: {ref}")
        click.echo(json.dumps(out, indent=4))

    @cli.command()
    @click.argument("containers", nargs=-1, required=True)
    @click.pass_context
    def wait(ctx: click.Context, containers: tuple[str, ...]) -> None:
        """Block until containers stop; print their exit codes."""
        c = client(ctx)
        for ref in containers:
            click.echo(c.json("POST", f"/containers/{ref}/wait")["StatusCode"])

    @cli.command()
    @click.argument("container")
    @click.pass_context
    def top(ctx: click.Context, container: str) -> None:
        """Show the processes of a container."""
        doc = client(ctx).json("GET", f"/containers/{container}/top")
        _print_table([tuple(doc["Titles"])] + [tuple(p) for p in doc["Processes"]])


def _attached_run(c: EngineClient, cid: str, o: dict[str, Any]) -> int:
    tty, interactive = o["tty"], o["interactive"]
    try:
        sock = c.hijack(f"/containers/{cid}/attach", {"stream": 1, "stdout": 1, "stderr": 1,
                                                      "stdin": int(interactive)})
        waiter = c.request("POST", f"/containers/{cid}/wait", {"condition": "removed" if o["rm"] else "next-exit"})
        c.request("POST", f"/containers/{cid}/start").read()
    except APIError as e:
        fail(e.message, 125)
    if not tty:
        def forward(sig: int, _frame: Any) -> None:
            try:
                c.request("POST", f"/containers/{cid}/kill", {"signal": signal.Signals(sig).name[3:]}).read()
            except APIError:
                pass

        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, forward)
    _pump(sock, tty, interactive, lambda h, w: c.request("POST", f"/containers/{cid}/resize",
                                                         {"h": h, "w": w}).read())
    raw = waiter.read()
    try:
        return int(json.loads(raw)["StatusCode"])
    except (ValueError, KeyError):
        return 125


def _pump(sock: Any, tty: bool, interactive: bool, resize: Any) -> None:
    """Relay the hijacked stream to our stdio (and stdin to it) until it closes."""
    import termios
    import tty as ttymod

    saved = None
    if tty and os.isatty(0):
        saved = termios.tcgetattr(0)
        ttymod.setraw(0)
        size = os.get_terminal_size(0)
        resize(size.lines, size.columns)
    watch = [sock] + ([sys.stdin] if interactive else [])
    pending = b""
    try:
        while True:
            ready, _, _ = select.select(watch, [], [])
            if sys.stdin in ready:
                data = os.read(0, 65536)
                if not data:
                    watch.remove(sys.stdin)
                    sock.shutdown(1)
                else:
                    sock.sendall(data)
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    break
                if tty:
                    os.write(1, data)
                    continue
                frames, pending = demux(pending + data)
                for stream, payload in frames:
                    os.write(2 if stream == 2 else 1, payload)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        sock.close()


def _copy_stream(resp: Any, tty: bool) -> None:
    pending = b""
    while chunk := resp.read1(65536):
        if tty:
            os.write(1, chunk)
            continue
        frames, pending = demux(pending + chunk)
        for stream, payload in frames:
            os.write(2 if stream == 2 else 1, payload)


def _port_text(p: dict[str, Any]) -> str:
    if p.get("PublicPort"):
        return f"{p.get('IP', '')}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}"
    return f"{p['PrivatePort']}/{p['Type']}"


def _ago(created: int) -> str:
    from skiff.engine.views import human_duration

    return human_duration(time.time() - created) + " ago"


def _print_table(rows: Sequence[tuple[Any, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("   ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())

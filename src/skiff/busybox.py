"""A minimal root filesystem from the host's static busybox.

There is no Docker Hub here (and a user may be offline), so skiff makes its
first image the way a distribution bootstraps: copy Debian's statically
linked ``/bin/busybox`` (package ``busybox-static``) into an empty tree, link
every applet, and add the few files programs expect (/etc/passwd, /etc/group,
/tmp with the sticky bit). The tree is ~2 MB and runs under skiff, runc and
podman alike.
"""

from __future__ import annotations

import os
import shutil
import subprocess

BUSYBOX = "/bin/busybox"
_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root",
         "var", "run", "home")


def applets(busybox: str = BUSYBOX) -> list[tuple[str, str]]:
    """(directory, name) of every applet busybox knows (``--list-full``)."""
    out = subprocess.run([busybox, "--list-full"], check=True, capture_output=True, text=True).stdout
    result = []
    for line in out.split():
        directory, _, name = line.rpartition("/")
        result.append((directory, name))
    return result


def build_rootfs(path: str, busybox: str = BUSYBOX) -> str:
    """Create (or refresh) a busybox root filesystem at ``path``; returns ``path``."""
    if not os.path.exists(busybox):
        raise FileNotFoundError(f"{busybox} not found: install Debian's busybox-static")
    for d in _DIRS:
        os.makedirs(os.path.join(path, d), exist_ok=True)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    target = os.path.join(path, "bin", "busybox")
    if not os.path.exists(target):
        shutil.copy2(busybox, target)
    for directory, name in applets(busybox):
        link = os.path.join(path, directory, name)
        if not os.path.lexists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink("/bin/busybox", link)
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        "etc/group": "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
        "etc/hostname": "skiff\n",
        "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    }
    for rel, text in files.items():
        with open(os.path.join(path, rel), "w") as f:
            f.write(text)
    return path

"""Run skiffd as its own process with the directory image backend (for crash tests).

    python -m tests.engine.daemon_proc BASE BUSYBOX_ROOTFS CGROUP_PARENT
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from skiff.engine.daemon import Daemon
from tests.engine.dir_images import DirImages


def main() -> None:
    base, rootfs, cgroup_parent = sys.argv[1:4]
    images = DirImages(os.path.join(base, "images"))
    images.add("busybox", rootfs)
    daemon = Daemon(os.path.join(base, "root"), os.path.join(base, "run"), images, cgroup_parent=cgroup_parent)

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
        ready = asyncio.Event()
        serve = asyncio.create_task(daemon.serve(os.path.join(base, "docker.sock"), ready=ready))
        await ready.wait()
        print("ready", flush=True)
        await serve

    try:
        asyncio.run(run())
    except asyncio.CancelledError:
        pass


if __name__ == "__main__":
    main()

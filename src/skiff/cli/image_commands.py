"""The image verbs in the click application, as pass-throughs to ``skiff.cli.image``.

``skiff.cli.main`` normally hands these verbs to the argparse CLI before
click is even imported; these entries make them appear in ``skiff --help``
and keep them working when the click group is invoked directly (tests,
``skiff -H … pull``).
"""

from __future__ import annotations

import click

from skiff.cli.app import cli

_HELP = {
    "image": "Manage images: pull, push, ls, rm, tag, inspect, history, save, load, import, prune.",
    "pull": "Fetch an image from a registry.",
    "push": "Upload an image to a registry.",
    "images": "List images.",
    "rmi": "Remove images.",
    "tag": "Give an image another name.",
    "save": "Write images to an archive.",
    "load": "Load images from an archive.",
    "import": "Make a one-layer image from a rootfs tarball.",
    "login": "Store registry credentials (after checking them).",
    "logout": "Forget registry credentials.",
}


def _passthrough(verb: str) -> click.Command:
    @click.pass_context
    def run(ctx: click.Context) -> None:
        from skiff.cli.image import main

        ctx.exit(main([verb, *ctx.args]))

    return click.Command(verb, callback=run, help=_HELP[verb], add_help_option=False,
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


for _verb in _HELP:
    cli.add_command(_passthrough(_verb))

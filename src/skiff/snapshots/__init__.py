"""Snapshots: the layered filesystems images and containers are made of.

An image is a chain of *committed* snapshots (one per layer, named by the
layer's chain ID); a container's root is an *active* snapshot on top of the
image's top layer, whose upper directory is the container's copy-on-write
layer. ``OverlaySnapshotter`` implements the ``Snapshotter`` contract with
overlayfs; it never mounts anything itself: it returns mount *descriptions*
(``RootMount``) that the runtime performs inside the container's own mount
namespace.
"""

from skiff.snapshots.overlay import OverlaySnapshotter
from skiff.snapshots.snapshotter import Info, Kind, Snapshotter, Usage

__all__ = ["Info", "Kind", "OverlaySnapshotter", "Snapshotter", "Usage"]

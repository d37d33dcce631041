"""Images: names over content, unpacked into snapshots; import, commit, save/load, pull/push.

``ImageService`` (``skiff.images.service``) is the facade the engine and
the CLI use; see its docstring for which methods are async.
"""

from skiff.images.record import ImageRecord
from skiff.images.service import DEFAULT_ROOT, ImageService

__all__ = ["DEFAULT_ROOT", "ImageRecord", "ImageService"]

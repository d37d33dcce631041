"""Layer tars into snapshot directories (``apply``) with hostile input contained."""

from skiff.images.unpack.apply import ApplyResult, apply_layer

__all__ = ["ApplyResult", "apply_layer"]

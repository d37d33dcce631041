"""Layer tars into snapshot directories (``apply``) with hostile input contained.

``skiff.images.unpack.apply.apply_layer`` is the entry point; the package
itself imports nothing, so ``compression`` can be used (by ``save``)
without loading the extraction machinery.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApplyResult", "apply_layer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from skiff.images.unpack import apply

        return getattr(apply, name)
    raise AttributeError(name)

"""Patch formats as pure functions on dicts: JSON patch, merge patch, strategic merge patch.

Each raises ``PatchError`` (400 upstream) for a malformed patch and
``PatchTestFailed`` (422) when a JSON-patch ``test`` does not hold.
"""

from skiff.api.patch.jsonpatch import PatchError, PatchTestFailed, apply_json_patch
from skiff.api.patch.mergepatch import apply_merge_patch
from skiff.api.patch.strategic import apply_strategic_merge_patch

__all__ = ["PatchError", "PatchTestFailed", "apply_json_patch", "apply_merge_patch",
           "apply_strategic_merge_patch"]

"""Resource quantities (pure): ``100m``, ``1Gi``, ``2.5``, ``1e3``, ``500Mi``.

Upstream ``resource.Quantity``: a decimal number with an optional binary
(``Ki Mi Gi Ti Pi Ei``) or decimal (``n u m k M G T P E``) suffix or exponent.
Values are exact (:class:`fractions.Fraction`); ``milli_value`` and ``value``
round *up* as upstream's ``MilliValue``/``Value`` do.

Worked example: ``"1.5Gi"`` = 1.5 x 2^30 = 1610612736; ``"250m"`` cpu is
``milli_value`` 250; ``"0.1"`` cpu is 100 millicores.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from skiff.errors import Invalid

_SUFFIX = {
    "": Fraction(1), "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}
_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$")
_cache: dict[str, Fraction] = {}


def parse_quantity(q: str | int | float) -> Fraction:
    """The exact value of a quantity; raises Invalid on malformed input."""
    if isinstance(q, bool):
        raise Invalid.field("quantity", f"quantities must match the regular expression: {q!r}")
    if isinstance(q, int):
        return Fraction(q)
    if isinstance(q, float):
        return Fraction(q).limit_denominator(10**9)
    hit = _cache.get(q)
    if hit is not None:
        return hit
    m = _RE.match(q.strip())
    if not m:
        raise Invalid.field("quantity", f"quantities must match the regular expression "
                            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {q!r}")
    num = Fraction(m[1])
    if m[2]:
        num *= Fraction(10) ** int(m[2][1:])
    else:
        num *= _SUFFIX[m[3] or ""]
    if len(_cache) < 4096:
        _cache[q] = num
    return num


def milli_value(q: str | int | float) -> int:
    """Value x 1000 rounded up: ``"100m"`` -> 100, ``"1"`` -> 1000."""
    return math.ceil(parse_quantity(q) * 1000)


def value(q: str | int | float) -> int:
    """Value rounded up: ``"1Ki"`` -> 1024, ``"1500m"`` -> 2."""
    return math.ceil(parse_quantity(q))


def format_milli(millis: int) -> str:
    """Millicores as the API prints them: 1500 -> ``1500m``, 2000 -> ``2``."""
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_bytes(n: int) -> str:
    """Bytes with the largest exact binary suffix: 1073741824 -> ``1Gi``."""
    for suf, mul in (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20),
                     ("Ki", 2**10)):
        if n and n % mul == 0:
            return f"{n // mul}{suf}"
    return str(n)

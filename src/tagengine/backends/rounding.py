"""`round(x, n)` of a float, defined by tagengine rather than lent from an engine.

The definition (docs/language.md, "Rounding"): the shortest decimal text that reads back
as `x` — what tagengine prints, `2.675` for the float nearest 2.675 — rounded half away
from zero at `n` decimals, read back as the nearest float. So `round(2.675, 2)` is 2.68
and `round(1.005, 2)` is 1.01 everywhere. A float with `|x| * 10^n >= 2^52 / 10` has no
digit to spare at the `(n+1)`-th place (its last digits are noise of the float), and is
returned as it is.

Engines round differently (Polars on `x * 10^n`, DuckDB's ROUND, Postgres to even), so
both backends compile the same arithmetic instead, using only operations IEEE 754 defines
exactly (multiplication, division, floor, comparison), which every engine performs alike:

    a  = |x|;  k = floor(a * 10^n)
    up = a >= (2k + 1) / (2 * 10^n)        # the double nearest the decimal midpoint
    r  = (k + up) / 10^n

Comparing with the double nearest the midpoint decides as the shortest text would: the
decimal-to-double conversion is monotonic, and below the limit no other decimal of
`n + 1` places reads back as the same float. `tests/test_rounding.py` checks this against
Python's `decimal` on every engine.
"""

from __future__ import annotations

import math
from fractions import Fraction

_LIMIT = Fraction(2**52, 10)


def scale(digits: int) -> float:
    """10^digits, exactly."""
    return float(10**digits)


def limit(digits: int) -> float:
    """The smallest double `a` with `a * 10^digits >= 2^52 / 10` (exactly): from there on,
    `round(x, digits)` is `x`."""
    bound = _LIMIT / 10**digits
    a = float(bound)
    if Fraction(a) < bound:
        a = math.nextafter(a, math.inf)
    while Fraction(math.nextafter(a, 0.0)) >= bound:
        a = math.nextafter(a, 0.0)
    return a

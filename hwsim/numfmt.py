"""Numbers for people: one rounding rule for every figure a report, a summary or the CLI shows.

The rule: a number is stored exact (full float precision in ``report.json``) and rounded
**once**, where it is shown, to ``n`` significant figures, **half away from zero** on its
shortest decimal representation (``repr``). Rounding the binary value instead (Python's
``round``, half-to-even on a float that is rarely the decimal it prints as) made one stored
``1.25e6`` pJ read "1.2 µJ" in one place and "1.3 µJ" in another; rounding a rounded figure
again did the same. Energies keep two significant figures and their ranges (DESIGN.md
section 7: never a false precision); fractions shown as percentages keep two decimals.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["sig", "fmt_sig", "fmt_energy", "fmt_ratio", "fmt_percent", "fmt_count"]

ENERGY_FIGURES = 2
PERCENT_DECIMALS = 2

# SI prefixes of a picojoule count, largest first; fJ catches everything below 1 pJ
_UNITS = ((1e12, "J"), (1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ"), (1.0, "pJ"), (1e-3, "fJ"))


def _round(x: float, exponent: int) -> Decimal:
    """``x`` rounded half away from zero to a multiple of ``10**exponent``, exactly in decimal."""
    return Decimal(repr(float(x))).quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP)


def _sig_decimal(x: float, n: int) -> Decimal:
    d = Decimal(repr(float(x)))
    exponent = d.adjusted() - (n - 1)
    r = _round(x, exponent)
    if r.adjusted() > d.adjusted():  # 9.96 -> 10.0: one figure too many after the carry
        r = _round(x, exponent + 1)
    return r


def sig(x: float, n: int = 2) -> float:
    """``x`` rounded to ``n`` significant figures by the module's rule (0, inf, NaN stay)."""
    if x == 0 or not math.isfinite(x):
        return x
    return float(_sig_decimal(x, n))


def fmt_sig(x: float, n: int = 2) -> str:
    """``x`` with ``n`` significant figures, no exponent, trailing zeros kept to ``n`` figures
    (``fmt_sig(4.0) == "4.0"``, ``fmt_sig(81234) == "81000"``)."""
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    r = _sig_decimal(x, n)
    return f"{r:f}" if r.as_tuple().exponent < 0 else f"{int(r)}"


def fmt_energy(pj: float, n: int = ENERGY_FIGURES, rng: tuple[float, float] | None = None) -> str:
    """``pj`` picojoules in an SI unit with ``n`` significant figures, e.g. ``"1.2 nJ"``; with
    ``rng`` ``(low, high)``, ``"1.2 nJ (0.90-1.5)"`` in the same unit, the range left out when
    both ends round to the nominal figure."""
    shown = sig(pj, n)  # the unit follows the rounded figure: 999.6 pJ is "1.0 nJ"
    if shown == 0:
        div, unit = 1.0, "pJ"
    else:
        div, unit = next(((d, u) for d, u in _UNITS if abs(shown) >= d), _UNITS[-1])
    base = f"{fmt_sig(pj / div, n)} {unit}"
    if rng is None:
        return base
    ends = [fmt_sig(v / div, n) for v in rng]
    if ends[0] == ends[1] == fmt_sig(pj / div, n):
        return base
    return f"{base} ({ends[0]}-{ends[1]})"


def fmt_ratio(r: tuple[float, float, float], n: int = ENERGY_FIGURES) -> str:
    """A ratio ``(nominal, low, high)``: ``"0.38 (0.36-0.39)"``, or ``"0.38"`` when the ends
    round to the nominal figure."""
    nominal, lo, hi = (fmt_sig(v, n) for v in r)
    return nominal if lo == hi == nominal else f"{nominal} ({lo}-{hi})"


def fmt_percent(fraction: float | None, decimals: int = PERCENT_DECIMALS, *, signed=False) -> str:
    """A fraction as a percentage with ``decimals`` decimals (``0.9526 -> "95.26%"``);
    ``signed`` adds ``+`` to a positive value (a difference); None is ``"-"``."""
    if fraction is None:
        return "-"
    p = _round(float(fraction) * 100, -decimals)
    sign = "+" if signed and p > 0 else ""
    return f"{sign}{p:f}%"


def fmt_count(v: float | None, decimals: int = 1) -> str:
    """A count or an average count per sample: integers as such with thousands separators,
    averages with ``decimals`` decimals (``51198.25 -> "51,198.3"``); None is ``"-"``."""
    if v is None:
        return "-"
    v = float(v)
    if v.is_integer():
        return f"{int(v):,}"
    return f"{_round(v, -decimals):,f}"

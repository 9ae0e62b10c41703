"""Price models: the types and the cited constants that price exact counts (DESIGN.md section 7).

This module owns the price-model types — :class:`Constant` (one energy per event, with its
citation, technology node and voltage, evidence grade and ``low``/``high`` range) and
:class:`PriceModel` (a named set of constants of one *family*) — the built-in models
(:data:`BUILTIN_MODELS`) and user tables in TOML (:func:`load_price_model`). It imports no
counts: :mod:`hwsim.pricing` uses these types to charge a :class:`~hwsim.counters.Counts`
(:func:`hwsim.pricing.price`; the formulas of each family are in its docstring and
``docs/energy.md``), and :mod:`hwsim.numfmt` shows the results. Energies are in picojoules
(pJ) per event.

Families (:data:`FAMILIES`): ``compute`` — operations only (Horowitz 2014, 45 nm);
``memory`` — operations plus SRAM accesses, in the style of Lemaire et al. 2022;
``platform`` — per-event platform tables (Loihi: Davies et al. 2018, Table 2). A term whose
constant a model lacks (e.g. E-I divisions on Loihi) is *unpriced*: its count is listed and it
is left out of the total, never silently priced at zero.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hwsim.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "GRADES",
    "FAMILIES",
    "CITATIONS",
    "Constant",
    "PriceModel",
    "BUILTIN_MODELS",
    "builtin_models",
    "load_price_model",
]

GRADES = ("measured", "all-in", "simulated", "derived", "assumed")
"""Evidence grades: ``measured`` on silicon, per operation; ``all-in`` measured on silicon and
including everything the chip spent (leakage, idle, routing) divided by a count; ``simulated``
pre-silicon or circuit-level estimates; ``derived`` spikefold's arithmetic on cited figures
(stated in the note); ``assumed`` a choice without a published figure (stated in the note)."""

CITATIONS = {
    "horowitz2014": (
        'M. Horowitz, "Computing\'s energy problem (and what we can do about it)", IEEE ISSCC '
        "2014, pp. 10-14, doi:10.1109/ISSCC.2014.6757323 - table of rough energy costs, 45 nm, "
        "0.9 V"
    ),
    "davies2018": (
        'M. Davies et al., "Loihi: A neuromorphic manycore processor with on-chip learning", '
        "IEEE Micro 38(1):82-99, 2018, doi:10.1109/MM.2018.112130359 - Table 2, pre-silicon "
        "(SDF and SPICE simulation), Intel 14 nm, 0.75 V"
    ),
    "lemaire2022": (
        'E. Lemaire et al., "An analytical estimation of spiking neural networks energy '
        'efficiency", ICONIP 2022, LNCS 13623, pp. 574-587, doi:10.1007/978-3-031-30105-6_48, '
        "arXiv:2210.13107"
    ),
    "neurobench": (
        'J. Yik et al., "NeuroBench: A framework for benchmarking neuromorphic computing '
        'algorithms and systems", arXiv:2304.04640; metric definitions in github.com/NeuroBench/'
        "neurobench, neurobench/metrics/{workload,static}/*.py"
    ),
}

FAMILIES = {
    "compute": {"required": ("mac", "ac"), "optional": ("update", "division"), "params": {}},
    "memory": {
        "required": ("add", "mul", "sram_8kib", "sram_lin_base", "sram_lin_per_kib"),
        "optional": ("division",),
        "params": {"sram_exponent": 0.47, "access_bits": 64.0, "fifo_bits": 1024.0},
    },
    "platform": {
        "required": ("synop",),
        "optional": ("graded_synop", "update", "spike", "hop", "division", "input_spike"),
        "params": {"mean_hops": 1.0},
    },
}
"""Per family: the constants it needs, those it may lack (their terms are then unpriced), and
its parameters with defaults."""


@dataclass(frozen=True)
class Constant:
    """One energy per event, ``value`` (nominal) within ``[low, high]``, in ``unit`` (pJ), with
    its ``source`` (a key of :data:`CITATIONS` or free text), technology ``node`` and voltage,
    evidence ``grade`` (:data:`GRADES`) and a ``note`` on how it was read or derived."""

    value: float
    low: float | None = None
    high: float | None = None
    source: str = ""
    node: str = ""
    grade: str = "assumed"
    note: str = ""
    unit: str = "pJ"

    def __post_init__(self) -> None:
        lo = self.value if self.low is None else self.low
        hi = self.value if self.high is None else self.high
        object.__setattr__(self, "low", float(lo))
        object.__setattr__(self, "high", float(hi))
        object.__setattr__(self, "value", float(self.value))
        vals = (self.low, self.value, self.high)
        if not all(math.isfinite(v) and v >= 0 for v in vals):
            raise ConfigError(f"constant values must be finite and >= 0, got {vals}")
        if not self.low <= self.value <= self.high:
            raise ConfigError(f"constant needs low <= value <= high, got {vals}")
        if self.grade not in GRADES:
            raise ConfigError(f"grade {self.grade!r} is not one of {GRADES}")
        if self.unit != "pJ":
            raise ConfigError(f"constants are in pJ, got unit {self.unit!r}")

    @property
    def citation(self) -> str:
        return CITATIONS.get(self.source, self.source)

    def to_dict(self) -> dict:
        return {
            "value": self.value, "low": self.low, "high": self.high, "unit": self.unit,
            "source": self.source, "citation": self.citation, "node": self.node,
            "grade": self.grade, "note": self.note,
        }  # fmt: skip


@dataclass(frozen=True)
class PriceModel:
    """A named set of constants priced by the formulas of its ``family`` (:data:`FAMILIES`);
    ``params`` the family's parameters (defaults filled in); ``ann`` whether it prices the
    ANN-equivalent too."""

    name: str
    family: str
    title: str
    constants: Mapping[str, Constant]
    params: Mapping[str, float] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        fam = FAMILIES.get(self.family)
        if fam is None:
            raise ConfigError(f"model {self.name!r}: family must be one of {list(FAMILIES)}")
        missing = [c for c in fam["required"] if c not in self.constants]
        unknown = set(self.constants) - set(fam["required"]) - set(fam["optional"])
        if missing or unknown:
            raise ConfigError(
                f"model {self.name!r} ({self.family}): missing constants {missing}, unknown "
                f"{sorted(unknown)}; a {self.family} model takes {fam['required']} and "
                f"optionally {fam['optional']}"
            )
        bad = set(self.params) - set(fam["params"])
        if bad:
            raise ConfigError(
                f"model {self.name!r}: unknown params {sorted(bad)}; {self.family} takes "
                f"{sorted(fam['params'])}"
            )
        params = {**fam["params"], **{k: float(v) for k, v in self.params.items()}}
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "constants", dict(self.constants))

    @property
    def ann(self) -> bool:
        return self.family in ("compute", "memory")

    def to_dict(self) -> dict:
        return {
            "name": self.name, "family": self.family, "title": self.title,
            "description": self.description, "params": dict(self.params),
            "constants": {k: c.to_dict() for k, c in self.constants.items()},
        }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# built-in models

_H = "horowitz2014"
_N45 = "45 nm, 0.9 V"
_L = "davies2018"
_N14 = "Intel 14 nm, 0.75 V"


def _horowitz(value, note, low=None, high=None, grade="simulated") -> Constant:
    return Constant(value, low, high, _H, _N45, grade, note)


_INT_DIV = _horowitz(
    2.4, "no divider in the table: a 24-bit restoring division, 24 subtract-and-shift steps "
    "at the 32-bit integer add (0.1 pJ); low 24 x the 8-bit add (0.03 pJ); high 3 x nominal "
    "for the steps' shifts, compares and multiplexers (assumed)", low=0.72, high=7.2,
    grade="derived",
)  # fmt: skip

BUILTIN_MODELS: dict[str, PriceModel] = {
    "compute-fp32": PriceModel(
        "compute-fp32",
        "compute",
        "compute-only, float32 (Horowitz 2014, 45 nm)",
        {
            "mac": _horowitz(4.6, "float32 multiply 3.7 pJ + add 0.9 pJ"),
            "ac": _horowitz(0.9, "float32 add"),
            "update": _horowitz(
                5.5,
                "decay multiply 3.7 + input add 0.9 + threshold compare (an add) 0.9; "
                "low: the compare free",
                low=4.6,
                grade="derived",
            ),
            "division": _horowitz(
                18.5,
                "no divider in the table: a Newton-Raphson division, a reciprocal by two "
                "iterations of two float32 multiplies and a final multiply, 5 x 3.7 pJ; low: "
                "one multiply",
                low=3.7,
                grade="derived",
            ),
        },
        description="operations only: no memory, data movement, control or leakage",
    ),  # fmt: skip
    "compute-int8": PriceModel(
        "compute-int8",
        "compute",
        "compute-only, int8 (Horowitz 2014, 45 nm)",
        {
            "mac": _horowitz(0.23, "8-bit integer multiply 0.2 pJ + add 0.03 pJ"),
            "ac": _horowitz(0.03, "8-bit integer add"),
            "update": _horowitz(
                3.3,
                "the 24-bit membrane needs 32-bit integer arithmetic: multiply 3.1 + add "
                "0.1 + compare 0.1; low: 8-bit multiply 0.2 + two 8-bit adds 0.06",
                low=0.26,
                grade="derived",
            ),
            "division": _INT_DIV,
        },
        description="operations only: no memory, data movement, control or leakage",
    ),  # fmt: skip
    "memory": PriceModel(
        "memory",
        "memory",
        "memory-aware (Lemaire et al. 2022 style, 45 nm SRAM)",
        {
            "add": _horowitz(
                0.1, "32-bit integer add (as Lemaire et al.); low: 8-bit add", low=0.03
            ),
            "mul": _horowitz(
                3.1, "32-bit integer multiply (as Lemaire et al.); low: 8-bit multiply", low=0.2
            ),
            "sram_8kib": _horowitz(
                10.0,
                "64-bit read of an 8 KB SRAM; other sizes scale as "
                "(size/8 KiB)**0.47, a log-log least-squares fit of "
                "Horowitz's 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ (within "
                "4% of each)",
            ),
            "sram_lin_base": _horowitz(
                13.3,
                "intercept of the linear least-squares fit to the "
                "same three SRAM points (the fit Lemaire et al.'s "
                "implementation uses); the range's other end",
                grade="derived",
            ),
            "sram_lin_per_kib": _horowitz(
                0.0848, "slope of that linear fit, pJ per KiB", grade="derived"
            ),
            "division": _INT_DIV,
        },
        description="operations plus SRAM accesses of weights, membranes and spike addresses; "
        "no DRAM, routing or leakage",
    ),  # fmt: skip
    "loihi": PriceModel(
        "loihi",
        "platform",
        "Loihi (Davies et al. 2018, Table 2, pre-silicon)",
        {
            "synop": Constant(
                23.6,
                None,
                None,
                _L,
                _N14,
                "simulated",
                "energy per synaptic spike op, the table's '(min)' row: a lower bound",
            ),
            "graded_synop": Constant(
                23.6,
                None,
                None,
                _L,
                _N14,
                "assumed",
                "Loihi (2018) has no graded spikes (Loihi 2 has, without a "
                "published per-op energy): priced as one synaptic op",
            ),
            "update": Constant(
                81.0,
                52.0,
                81.0,
                _L,
                _N14,
                "simulated",
                "neuron update, 81 pJ active / 52 pJ inactive; which of a run's "
                "updates are inactive is not modelled here: range",
            ),
            "spike": Constant(1.7, None, None, _L, _N14, "simulated", "within-tile spike energy"),
            "hop": Constant(
                3.5,
                3.0,
                4.0,
                _L,
                _N14,
                "simulated",
                "energy per tile hop, 3.0 pJ east-west / 4.0 pJ north-south",
            ),
        },
        {"mean_hops": 1.0},
        description="synaptic ops, neuron updates and spike routing at an assumed mean of 1 "
        "tile hop per spike (each layer on its own core, neighbouring cores); E-I divisions, "
        "input injection from the host, static and idle power are not in the table",
    ),  # fmt: skip
}
"""The built-in models: two compute-only precisions, memory-aware, Loihi."""


def builtin_models() -> list[PriceModel]:
    return list(BUILTIN_MODELS.values())


def load_price_model(path: str | Path) -> PriceModel:
    """A user price table from a TOML file (``tomllib``)::

        name = "mychip"                 # required
        family = "platform"             # compute | memory | platform
        title = "My chip, 22 nm"        # optional
        description = "..."             # optional
        [params]                        # optional, the family's parameters
        mean_hops = 2.0
        [constants.synop]               # one table per constant (FAMILIES)
        value = 5.0                     # pJ
        low = 4.0                       # optional (default: value)
        high = 6.0                      # optional
        source = "Doe et al. 2024, Table 3"
        node = "22 nm, 0.8 V"
        grade = "measured"              # GRADES
        note = "..."

    Raises :class:`ConfigError` naming the file and the problem."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the price table ({exc})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from exc
    known = {"name", "family", "title", "description", "params", "constants"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{p}: unknown keys {sorted(unknown)}; expected {sorted(known)}")
    for key in ("name", "family"):
        if not isinstance(data.get(key), str):
            raise ConfigError(f"{p}: '{key}' (a string) is required")
    consts = data.get("constants", {})
    if not isinstance(consts, dict):
        raise ConfigError(f"{p}: [constants] must be a table of tables")
    fields_ = {"value", "low", "high", "source", "node", "grade", "note", "unit"}
    built = {}
    for name, c in consts.items():
        if not isinstance(c, dict) or "value" not in c:
            raise ConfigError(f"{p}: [constants.{name}] needs at least 'value' (pJ)")
        bad = set(c) - fields_
        if bad:
            raise ConfigError(f"{p}: [constants.{name}] unknown keys {sorted(bad)}")
        try:
            built[name] = Constant(**c)
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"{p}: [constants.{name}]: {exc}") from None
    try:
        return PriceModel(
            data["name"], data["family"], str(data.get("title", data["name"])), built,
            dict(data.get("params", {})), str(data.get("description", "")),
        )  # fmt: skip
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None

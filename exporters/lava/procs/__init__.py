"""spikefold's custom Lava processes, one sub-package each (``process.py`` with the Process,
``models.py`` with its ``floating_pt`` and ``fixed_pt`` ProcessModels), as Lava's own
``lava/proc/<name>/{process,models}.py``: Lava's compiler looks for a Process's models in the
modules of the Process's package and re-executes each of them, so a package holds nothing
else. Every fixed-point model computes through :mod:`hwsim.arith` only.

Per-sample reset: a custom model clears its state itself at the first step of every sample
(``t = (time_step - 1) mod period == 0``), so a run of many samples needs no Var writes for
custom processes (Lava 0.10's ``Var.set`` moves one element per message).
"""

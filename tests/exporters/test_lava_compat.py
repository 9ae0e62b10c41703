"""The Python 3.11 compatibility shim for lava-nc 0.10.0 (exporters/_lava_compat.py).

What must hold: ``import exporters`` installs the shim; Lava then imports and its rewritten
dataclasses get one default instance each; the rewrite touches exactly the pattern 3.11 rejects;
a changed Lava source fails with an ImportError naming the file; nothing is written next to the
source; and without the shim the plain import really fails (so these tests can fail).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import exporters
from exporters import _lava_compat

ROOT = Path(__file__).resolve().parents[2]
VAR_MODEL = "lava.magma.compiler.var_model"
MP_MODULE = "lava.magma.runtime.message_infrastructure.multiprocessing"
SLAYER = "lava.lib.dl.slayer"
LAVA_REWRITES = [
    f"{cls}.{name} = ByteEncoder()"
    for cls, names in (
        ("CoreEncoder", "xyp"),
        ("ChipEncoder", "xyz"),
        ("AxonEncoder", ("hi", "lo")),
    )
    for name in names
]


def _shim_finders() -> list[object]:
    return [f for f in sys.meta_path if getattr(f, "_spikefold_lava_compat", False)]


def _load(path: Path, name: str, rewrite: str = VAR_MODEL):
    """Execute ``path`` as module ``name`` through the shim's loader (not via sys.modules)."""
    loader = _lava_compat._RewritingLoader(name, str(path), _lava_compat._REWRITES[rewrite])
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module, loader.changes


def test_import_exporters_installs_shim_once() -> None:
    assert exporters.__file__ is not None, "exporters imported as a namespace package"
    assert len(_shim_finders()) == 1
    active = _lava_compat.install()
    active_again = _lava_compat.install()
    assert len(_shim_finders()) == 1  # idempotent
    assert active == active_again == frozenset({VAR_MODEL, MP_MODULE, SLAYER})


def test_lava_imports_with_distinct_default_instances() -> None:
    import lava.magma.compiler.var_model as var_model
    import lava.magma.core.run_configs  # noqa: F401 - the import that fails without the shim

    assert isinstance(var_model.__spec__.loader, _lava_compat._RewritingLoader)
    assert var_model.__spec__.loader.changes == LAVA_REWRITES
    for cls in (var_model.CoreEncoder, var_model.ChipEncoder, var_model.AxonEncoder):
        for field in dataclasses.fields(cls):
            assert field.default is dataclasses.MISSING
            assert field.default_factory is var_model.ByteEncoder
        a, b = cls(), cls()
        for field in dataclasses.fields(cls):
            assert getattr(a, field.name) == var_model.ByteEncoder()
            assert getattr(a, field.name) is not getattr(b, field.name)
    # Tracebacks and inspect still point at Lava's own file.
    assert var_model.__file__.endswith("lava/magma/compiler/var_model.py")


def test_rewrite_only_defaults_python_311_rejects(tmp_path: Path) -> None:
    source = textwrap.dedent(
        """
        import dataclasses
        from dataclasses import dataclass, field

        @dataclass
        class Enc:                      # eq=True, not frozen: unhashable
            n: int = 0

        @dataclass(frozen=True)
        class Frozen:                   # hashable: 3.11 accepts it as a default
            n: int = 0

        @dataclasses.dataclass(eq=False)
        class NoEq:                     # keeps object.__hash__: accepted
            n: int = 0

        @dataclass
        class Hashed:                   # explicit __hash__ survives @dataclass
            n: int = 0
            def __hash__(self):
                return self.n

        @dataclass
        class Holder:
            a: Enc = Enc()
            b: Enc = Enc(3)
            c: Frozen = Frozen()
            d: NoEq = NoEq()
            e: Hashed = Hashed()
            f: Enc = field(default_factory=Enc)

        class Plain:                    # not a dataclass: a class attribute, left alone
            shared: Enc = Enc()
        """
    )
    path = tmp_path / "synthetic.py"
    path.write_text(source)
    module, changes = _load(path, "synthetic")
    assert changes == ["Holder.a = Enc()", "Holder.b = Enc(3)"]
    one, two = module.Holder(), module.Holder()
    assert one.a is not two.a and one.b is not two.b and one.b.n == 3
    assert one.c is two.c and one.d is two.d and one.e is two.e  # untouched defaults
    assert module.Plain.shared is module.Plain().shared
    assert not (tmp_path / "__pycache__").exists()  # the loader never writes bytecode


def test_already_fixed_source_is_executed_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "fixed.py"
    path.write_text(
        "from dataclasses import dataclass, field\n"
        "@dataclass\nclass Enc:\n    n: int = 0\n"
        "@dataclass\nclass Holder:\n    a: Enc = field(default_factory=Enc)\n"
    )
    module, changes = _load(path, "fixed")
    assert changes == []
    assert module.Holder().a == module.Enc()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("    a: Enc = Enc.zero()\n", "found nothing to rewrite"),
        ("    a: Enc = Enc()\n    b: Enc = Enc.zero()\n", "it rewrote Holder.a = Enc()"),
    ],
)
def test_changed_lava_source_fails_loudly(tmp_path: Path, fields: str, message: str) -> None:
    # A default the rewrite does not recognise (a classmethod call) that 3.11 still rejects.
    path = tmp_path / "var_model.py"
    path.write_text(
        "from dataclasses import dataclass\n"
        "@dataclass\nclass Enc:\n    n: int = 0\n"
        "    @classmethod\n    def zero(cls):\n        return cls()\n"
        "@dataclass\nclass Holder:\n" + fields
    )
    with pytest.raises(ImportError, match=message) as info:
        _load(path, "changed_var_model")
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize(("current", "expect_set"), [(None, True), ("fork", False)])
def test_fork_start_method_guard(tmp_path: Path, current: str | None, expect_set: bool) -> None:
    source = (
        "import platform\nif platform.system() != 'Windows':\n    mp.set_start_method('fork')\n"
    )
    tree, changes = _lava_compat.rewrite_fork_start_method(source, "mp_module.py")
    assert changes == ["line 3: mp.set_start_method('fork') (guarded)"]
    calls: list[str] = []

    class FakeMultiprocessing:  # records what the guarded module does to the start method
        @staticmethod
        def get_start_method(allow_none: bool = False) -> str | None:
            return current

        @staticmethod
        def set_start_method(method: str) -> None:
            calls.append(method)

    exec(compile(tree, "mp_module.py", "exec"), {"mp": FakeMultiprocessing})
    assert calls == (["fork"] if expect_set else [])


def test_fresh_interpreter_plain_import_fails_and_shim_fixes_it(tmp_path: Path) -> None:
    """In fresh interpreters: without the shim 3.11 rejects Lava; with it (and a start method
    already fixed to 'fork' by earlier multiprocessing use) both rewritten modules import, and
    the shim left nothing behind that would make the plain import succeed."""
    if sys.version_info < (3, 11):
        pytest.skip("the dataclass rewrite is needed from Python 3.11 on")
    plain = f"import {VAR_MODEL}"
    shimmed = (
        "import multiprocessing as mp; mp.get_start_method()\n"
        f"import exporters, {VAR_MODEL}, {MP_MODULE}\n"
        "from lava.magma.core.run_configs import Loihi2SimCfg\n"
        "print(mp.get_start_method())"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True)
        for code in (plain, shimmed, plain)
    ]
    for run in (runs[0], runs[2]):
        assert run.returncode != 0
        assert b"use default_factory" in run.stderr
    assert runs[1].returncode == 0, runs[1].stderr.decode()
    assert runs[1].stdout.strip() == b"fork"


def test_fresh_interpreter_netx_imports_without_slayers_object_detection(tmp_path: Path) -> None:
    """lava-dl 0.6.0's NetX imports SLAYER, whose package __init__ loads its object-detection
    module (cv2, torchvision). With the shim NetX loads and SLAYER has no ``obd``; the plain
    import fails on what that module needs (when cv2 or torchvision is missing)."""
    import importlib.util as iu

    missing = iu.find_spec("cv2") is None or iu.find_spec("torchvision") is None
    plain = "import lava.lib.dl.slayer"
    shimmed = (
        "import exporters\n"
        "from lava.lib.dl.netx.hdf5 import Network\n"
        "import lava.lib.dl.slayer as s\n"
        "print(hasattr(s, 'obd'), 'obd' in s.__all__, s.__spec__.loader.changes)"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True)
        for code in (plain, shimmed)
    ]
    if missing:
        assert runs[0].returncode != 0
        assert b"cv2" in runs[0].stderr or b"torchvision" in runs[0].stderr
    assert runs[1].returncode == 0, runs[1].stderr.decode()[-2000:]
    out = runs[1].stdout.decode()
    assert out.startswith("False False") and "object_detection as obd (removed)" in out


def test_slayer_rewrite_refuses_an_unknown_release(tmp_path: Path) -> None:
    src = tmp_path / "slayer_init.py"
    src.write_text("from . import neuron\n__all__ = ['neuron']\n")
    with pytest.raises(ImportError, match="found nothing to rewrite"):
        _load(src, "fake_slayer", SLAYER)


def test_install_adds_no_dataclass_rewrite_before_python_311(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "version_info", (3, 10, 14))
    assert _lava_compat.install() == frozenset({MP_MODULE, SLAYER})
    assert _shim_finders()[0].find_spec(VAR_MODEL, None) is None

"""Import shim for lava-nc 0.10.0 on Python 3.11 and for lava-dl 0.6.0's NetX (DESIGN.md section 9).

Three source rewrites at import time, each claimed by module name (:data:`TARGET_MODULES`):
lava-nc's ``var_model`` (Python 3.11 dataclass defaults, below), its multiprocessing start
method (:func:`rewrite_fork_start_method`) and lava-dl's ``slayer`` package ``__init__``
(:func:`rewrite_skip_object_detection`: NetX loads without cv2 and torchvision).

The problem
-----------
lava-nc 0.10.0 declares ``python_requires < 3.11`` but is pure Python and runs on 3.11 except
for one module, ``lava/magma/compiler/var_model.py``. Three of its dataclasses use *instances*
of another dataclass as field defaults::

    @dataclass
    class CoreEncoder:
        x: ByteEncoder = ByteEncoder()      # likewise y, p; ChipEncoder; AxonEncoder

Since Python 3.11 ``dataclasses`` rejects every default whose class is unhashable
(``type(default).__hash__ is None``), not only ``list``/``dict``/``set``. A ``@dataclass`` with
the default ``eq=True`` and ``frozen=False`` sets ``__hash__ = None``, so class creation raises
``ValueError: mutable default <class '...ByteEncoder'> for field x is not allowed: use
default_factory``. ``lava.magma.core.run_configs`` imports that module, so nothing in Lava runs.

The fix
-------
:func:`install` puts a :class:`importlib.abc.MetaPathFinder` first on ``sys.meta_path``. It
claims only the modules in :data:`TARGET_MODULES`, locates their source with the ordinary
:class:`importlib.machinery.PathFinder`, and loads it with a loader that parses the source and
rewrites, inside each ``@dataclass`` class body, every annotated field whose default is a call
of an *unhashable dataclass defined at the top level of the same module*::

    x: ByteEncoder = ByteEncoder()
      -> x: ByteEncoder = __import__("dataclasses").field(default_factory=ByteEncoder)
    x: C = C(1, k=2)
      -> x: C = __import__("dataclasses").field(default_factory=lambda: C(1, k=2))

The rewritten tree is compiled under the original file name with the original line numbers,
so tracebacks point at the real lines of Lava's file. Nothing in site-packages is touched: the
loader neither reads nor writes the bytecode cache (``__pycache__``), so a plain import without
the shim still sees Lava's unmodified code.

Semantics: on Python 3.10 every ``CoreEncoder()`` shared *one* ``ByteEncoder`` default instance
(mutating ``a.x`` mutated ``b.x``); after the rewrite each instance gets its own, which is what
3.11's check asks for. Lava's Python simulation never uses these encoders (they describe Loihi
spike-I/O registers).

When it does nothing, and when it fails
---------------------------------------
* Python < 3.11: :func:`install` does not install anything (the source imports as is).
* The pattern is absent (e.g. a later Lava fixed its source): the module is executed unchanged.
  On 3.11 the pattern is exactly what makes the plain import fail, so "nothing to rewrite" and
  "already imports fine" coincide.
* Loud failure: if executing the module (rewritten or not) still raises the dataclass
  ``mutable default`` error, the loader raises :class:`ImportError` naming the file, the fields
  it rewrote (if any) and the original error, so a change in Lava's source cannot slip through.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import CodeType, ModuleType

__all__ = [
    "TARGET_MODULES",
    "LavaCompatFinder",
    "install",
    "rewrite_mutable_defaults",
    "rewrite_fork_start_method",
    "rewrite_skip_object_detection",
]

#: Marker attribute by which :func:`install` recognises its finder (also across reloads of
#: this module, where ``isinstance`` against the new class object would miss the old finder).
_MARKER = "_spikefold_lava_compat"


def _is_dataclass_decorator(node: ast.expr) -> bool:
    """Whether a decorator is ``dataclass`` or ``dataclasses.dataclass``, called or not."""
    target = node.func if isinstance(node, ast.Call) else node
    return (isinstance(target, ast.Name) and target.id == "dataclass") or (
        isinstance(target, ast.Attribute) and target.attr == "dataclass"
    )


def _unhashable_dataclass(cls: ast.ClassDef) -> bool | None:
    """Whether ``cls`` is a dataclass whose instances are unhashable (None: not a dataclass).

    ``dataclass`` sets ``__hash__ = None`` when ``eq`` is true, ``frozen`` and ``unsafe_hash``
    are false and the class body does not define ``__hash__`` itself (the Python docs' table
    under "unsafe_hash"). Non-literal keyword values are taken as "could be hashable", so the
    shim never rewrites a default it cannot prove 3.11 rejects.
    """
    decorators = [d for d in cls.decorator_list if _is_dataclass_decorator(d)]
    if not decorators:
        return None
    options = {"eq": True, "frozen": False, "unsafe_hash": False}
    if isinstance(decorators[0], ast.Call):
        for keyword in decorators[0].keywords:
            if keyword.arg in options:
                if not isinstance(keyword.value, ast.Constant):
                    return False
                options[keyword.arg] = bool(keyword.value.value)
    defines_hash = any(
        (isinstance(s, ast.FunctionDef) and s.name == "__hash__")
        or (
            isinstance(s, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__hash__" for t in s.targets)
        )
        for s in cls.body
    )
    hashable = options["frozen"] or options["unsafe_hash"] or defines_hash
    return options["eq"] and not hashable


def _default_factory(call: ast.Call) -> ast.Call:
    """``C(args)`` -> ``__import__("dataclasses").field(default_factory=C | lambda: C(args))``.

    ``__import__`` keeps the expression self-contained: no name is added to Lava's module.
    """
    factory: ast.expr
    if call.args or call.keywords:
        no_args = ast.arguments(
            posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
            defaults=[],
        )  # fmt: skip
        factory = ast.Lambda(args=no_args, body=call)
    else:
        factory = call.func
    importer = ast.Call(
        func=ast.Name(id="__import__", ctx=ast.Load()),
        args=[ast.Constant(value="dataclasses")],
        keywords=[],
    )
    field = ast.Attribute(value=importer, attr="field", ctx=ast.Load())
    keyword = ast.keyword(arg="default_factory", value=factory)
    new = ast.Call(func=field, args=[], keywords=[keyword])
    return ast.fix_missing_locations(ast.copy_location(new, call))


def rewrite_mutable_defaults(source: str | bytes, filename: str) -> tuple[ast.Module, list[str]]:
    """Parse ``source`` and rewrite unhashable-dataclass defaults to ``default_factory``.

    A field ``name: T = C(...)`` in the body of a top-level ``@dataclass`` class is rewritten
    when ``C`` is a top-level class of the same source that is a dataclass with unhashable
    instances (see :func:`_unhashable_dataclass`). Returns the (modified in place) tree and the
    list of rewritten fields as ``"Class.field = C(...)"`` strings, empty when nothing matched.
    """
    tree = ast.parse(source, filename=filename)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    unhashable = {name for name, cls in classes.items() if _unhashable_dataclass(cls)}
    changes: list[str] = []
    for cls in classes.values():
        if _unhashable_dataclass(cls) is None:
            continue  # not a dataclass: a class attribute default is not a field default
        for stmt in cls.body:
            value = stmt.value if isinstance(stmt, ast.AnnAssign) else None
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id in unhashable
                and isinstance(stmt.target, ast.Name)
            ):
                changes.append(f"{cls.name}.{stmt.target.id} = {ast.unparse(value)}")
                stmt.value = _default_factory(value)
    return tree, changes


def rewrite_fork_start_method(source: str | bytes, filename: str) -> tuple[ast.Module, list[str]]:
    """Guard Lava's import-time ``mp.set_start_method('fork')`` so that it is idempotent.

    ``lava/magma/runtime/message_infrastructure/multiprocessing.py`` calls
    ``mp.set_start_method('fork')`` at import time (first ``run()`` of a Lava process). The
    standard library raises ``RuntimeError: context has already been set`` when the process
    already fixed its start method -- which any earlier ``multiprocessing.get_start_method()``,
    ``Process.start()`` or ``Pool`` does (e.g. a torch ``DataLoader`` with workers in the same
    pytest worker), even when that method is ``'fork'`` too. Every module-level (not inside a
    function or class) statement ``<mp>.set_start_method('fork')`` becomes::

        if <mp>.get_start_method(allow_none=True) != 'fork':
            <mp>.set_start_method('fork')

    An unset context still gets ``'fork'``; an existing ``'fork'`` context is accepted; another
    method (``'spawn'``) still raises, and the loader turns that into a clear ImportError.
    """
    tree = ast.parse(source, filename=filename)
    changes: list[str] = []

    def guard(body: list[ast.stmt]) -> None:
        for index, stmt in enumerate(body):
            if isinstance(stmt, ast.If | ast.Try):
                for block in (stmt.body, stmt.orelse, getattr(stmt, "finalbody", [])):
                    guard(block)
            call = stmt.value if isinstance(stmt, ast.Expr) else None
            if not (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "set_start_method"
                and len(call.args) == 1
                and isinstance(call.args[0], ast.Constant)
                and call.args[0].value == "fork"
                and not call.keywords
            ):
                continue
            current = ast.Call(
                func=ast.Attribute(value=call.func.value, attr="get_start_method", ctx=ast.Load()),
                args=[],
                keywords=[ast.keyword(arg="allow_none", value=ast.Constant(value=True))],
            )
            test = ast.Compare(left=current, ops=[ast.NotEq()], comparators=[ast.Constant("fork")])
            new = ast.If(test=test, body=[stmt], orelse=[])
            body[index] = ast.fix_missing_locations(ast.copy_location(new, stmt))
            changes.append(f"line {stmt.lineno}: {ast.unparse(stmt)} (guarded)")

    guard(tree.body)
    return tree, changes


#: The statement of lava-dl 0.6.0's ``lava/lib/dl/slayer/__init__.py`` that
#: :func:`rewrite_skip_object_detection` removes, and the name it binds.
_OBD_IMPORT = ("object_detection", "obd")


def rewrite_skip_object_detection(
    source: str | bytes, filename: str
) -> tuple[ast.Module, list[str]]:
    """Drop SLAYER's object-detection subpackage from ``lava.lib.dl.slayer``'s ``__init__``.

    lava-dl 0.6.0's NetX (``lava/lib/dl/netx/hdf5.py``) imports
    ``lava.lib.dl.slayer.neuron.rf`` for one helper (``neuron_params`` of resonate-and-fire
    neurons), which runs the package ``__init__`` of ``lava.lib.dl.slayer``; its last import,
    ``from . import object_detection as obd``, loads SLAYER's YOLO utilities, which need
    ``cv2`` (opencv) and ``torchvision``. Neither is installed here: torchvision does not
    import beside the pinned torch wheel, and NetX uses neither. This rewrite removes exactly

    * the top-level statement ``from . import object_detection as obd``, and
    * the string ``'obd'`` from the top-level ``__all__`` list,

    so ``lava.lib.dl.slayer`` has no ``obd`` attribute; every other SLAYER module imports as
    shipped, and ``import lava.lib.dl.slayer.object_detection`` still runs the real module
    (and fails with Python's own error where cv2 is missing). The rewrite is ``required``: a
    ``slayer/__init__.py`` without that statement (another lava-dl release) is refused with
    an ImportError naming the file, instead of being imported in a shape nobody checked.
    """
    tree = ast.parse(source, filename=filename)
    module, alias = _OBD_IMPORT
    changes: list[str] = []
    body = []
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.ImportFrom)
            and stmt.level == 1
            and stmt.module is None
            and [(a.name, a.asname) for a in stmt.names] == [(module, alias)]
        ):
            changes.append(f"line {stmt.lineno}: {ast.unparse(stmt)} (removed)")
            continue
        if (
            changes
            and isinstance(stmt, ast.Assign)
            and [getattr(t, "id", None) for t in stmt.targets] == ["__all__"]
            and isinstance(stmt.value, ast.List)
        ):
            kept = [
                e for e in stmt.value.elts if not (isinstance(e, ast.Constant) and e.value == alias)
            ]
            if len(kept) != len(stmt.value.elts):
                stmt.value.elts = kept
                changes.append(f"line {stmt.lineno}: {alias!r} removed from __all__")
        body.append(stmt)
    tree.body = body
    return tree, changes


@dataclass(frozen=True)
class _Rewrite:
    """One source rewrite: the transform and the error it exists to prevent."""

    transform: Callable[[str | bytes, str], tuple[ast.Module, list[str]]]
    error_type: type[Exception]
    error_texts: tuple[str, ...]  # substrings of the error messages the rewrite prevents
    min_python: tuple[int, int]  # the rewrite is active from this Python version on
    # True: the source must contain the pattern (a module that no longer does is refused at
    # import time instead of running in a shape nobody checked)
    required: bool = False


#: Module name -> its rewrite. Every other import passes through the finder untouched.
_REWRITES: dict[str, _Rewrite] = {
    "lava.magma.compiler.var_model": _Rewrite(
        rewrite_mutable_defaults, ValueError, ("use default_factory",), (3, 11)
    ),
    "lava.magma.runtime.message_infrastructure.multiprocessing": _Rewrite(
        rewrite_fork_start_method, RuntimeError, ("context has already been set",), (3, 0)
    ),
    "lava.lib.dl.slayer": _Rewrite(
        rewrite_skip_object_detection, ImportError, ("cv2", "torchvision"), (3, 0), required=True
    ),
}

#: The modules the finder claims (on Pythons where their rewrite is active).
TARGET_MODULES: frozenset[str] = frozenset(_REWRITES)


class _RewritingLoader(importlib.machinery.SourceFileLoader):
    """Source loader that compiles the rewritten tree and never touches ``__pycache__``."""

    def __init__(self, fullname: str, path: str, rewrite: _Rewrite) -> None:
        super().__init__(fullname, path)
        self.rewrite = rewrite
        self.changes: list[str] = []

    def get_code(self, fullname: str) -> CodeType:
        # Bypassing SourceLoader.get_code skips the bytecode cache in both directions: a cached
        # .pyc of Lava's original source is not used, and no rewritten .pyc is written back.
        source = self.get_data(self.path)
        tree, self.changes = self.rewrite.transform(source, self.path)
        if self.rewrite.required and not self.changes:
            raise ImportError(
                f"spikefold's import shim (exporters/_lava_compat.py) found nothing to rewrite "
                f"in {self.path}: {self.rewrite.transform.__name__} expects the source of the "
                f"pinned release (requirements-nodeps.txt). Install that release, or update "
                f"the rewrite after reading the new source.",
                name=self.name,
                path=self.path,
            )
        return compile(tree, self.path, "exec", dont_inherit=True)

    def exec_module(self, module: ModuleType) -> None:
        try:
            super().exec_module(module)
        except self.rewrite.error_type as err:
            if not any(text in str(err) for text in self.rewrite.error_texts):
                raise
            done = (
                "it rewrote " + "; ".join(self.changes)
                if self.changes
                else f"{self.rewrite.transform.__name__} found nothing to rewrite"
            )
            raise ImportError(
                f"spikefold's import shim (exporters/_lava_compat.py) could "
                f"not make {self.path} importable: {done}, but executing it still fails with "
                f"{err!r}. Either the source no longer looks like the pinned release's (update "
                f"{self.rewrite.transform.__name__}) or the process is set up in a way Lava "
                f"cannot run in (e.g. a multiprocessing start method other than 'fork').",
                name=self.name,
                path=self.path,
            ) from err


class LavaCompatFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder that routes the active :data:`TARGET_MODULES` through the rewriter."""

    _spikefold_lava_compat = True

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        rewrite = _REWRITES.get(fullname)
        if rewrite is None or sys.version_info < rewrite.min_python:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            # No source to rewrite (not installed, or a sourceless install): the ordinary
            # machinery decides, and a sourceless Lava fails with Python's own error.
            return None
        loader = _RewritingLoader(fullname, spec.origin, rewrite)
        # a package (lava.lib.dl.slayer) keeps its search path, or its submodules are not found
        return importlib.util.spec_from_file_location(
            fullname,
            spec.origin,
            loader=loader,
            submodule_search_locations=spec.submodule_search_locations,
        )


def install() -> frozenset[str]:
    """Install the shim at the front of ``sys.meta_path`` (idempotent).

    Must run before the first ``import lava...``; ``import exporters`` calls it. Returns the
    modules that are rewritten on this Python (the ``var_model`` fix only from 3.11 on, where
    3.10 imports Lava's source as is).
    """
    active = frozenset(
        name for name, rewrite in _REWRITES.items() if sys.version_info >= rewrite.min_python
    )
    if not any(getattr(finder, _MARKER, False) for finder in sys.meta_path):
        sys.meta_path.insert(0, LavaCompatFinder())
    return active

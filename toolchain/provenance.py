"""What every artifact of a run directory was made from, and who may write the directory.

``runs/<name>/provenance.json`` holds one :class:`Record` per artifact: the stage and command
that made it, the content hash (SHA-256) of the artifact as written, the content hashes of
every input it was made from, and the options that change it. An artifact is a file of the run
directory (``graph.fixed.npz``) or one rung's entry of ``verify.json`` (key
``verify.json#2``: rungs are written by different commands, so each has its own history).
A target that refuses the network (NIR for a soft-reset net) is recorded too, as a record with
``refused`` (its reason) and no hash, so that a resumed ``spikefold run`` knows it need not ask
again while the inputs are unchanged.

An artifact is **stale** (:func:`stale`) when it was changed after its stage wrote it, when an
input's hash differs from the one recorded (``checkpoint.pt`` retrained after the fold), or when
an input is itself stale (the chain is followed upstream, and the first stale file is named).
An artifact without a record has no history to check (a run made before provenance existed, a
graph saved by a user's own script) and is taken as it is. Each stage calls
:func:`require_fresh` on what it reads: a stale input is refused with
:class:`~hwsim.errors.StaleArtifactError`, naming the file, why, and the commands that rebuild
it; ``spikefold run`` rebuilds instead.

Writers hold :func:`run_lock` (an exclusive ``flock`` on ``RUN_DIR/.lock``): a second process
writing the same run directory is refused at once, naming the holder. The lock is re-entrant
within a process, so a stage function called by ``spikefold run`` under its lock takes it again
without waiting on itself.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwsim.errors import ConfigError, RunLockedError, StaleArtifactError
from hwsim.io import atomic_write_text
from toolchain import rundir

__all__ = [
    "MANIFEST",
    "Record",
    "Stale",
    "rung_key",
    "read_json",
    "digest",
    "read_manifest",
    "record",
    "forget",
    "stale",
    "require_fresh",
    "is_current",
    "why_rebuild",
    "refusals",
    "run_lock",
    "clear_run",
]

MANIFEST = rundir.PROVENANCE
SCHEMA = 1
RUN_PLACEHOLDER = "{run}"  # commands are stored with it, so a moved run directory still reads


def read_json(
    path: str | os.PathLike, expect: type | tuple[type, ...] = dict, rebuild: str = ""
) -> Any:
    """A JSON artifact of a run (``fold.json``, ``verify.json``...), refused with one
    :class:`ConfigError` naming the file when it is unreadable, truncated, not JSON or not
    of the ``expect`` type; ``rebuild`` says how to make it again."""
    path = Path(path)
    hint = f"; rebuild it with `{rebuild}`" if rebuild else ""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing{hint}") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: corrupt ({type(exc).__name__}: {exc}){hint}") from None
    if not isinstance(data, expect):
        kinds = expect if isinstance(expect, tuple) else (expect,)
        wanted = " or ".join(t.__name__ for t in kinds)
        raise ConfigError(
            f"{path}: corrupt (a JSON {type(data).__name__}, expected {wanted}){hint}"
        )
    return data


def rung_key(rung: int | str) -> str:
    """The artifact key of one rung's entry in ``verify.json`` (``verify.json#2``)."""
    return f"{rundir.VERIFY_JSON}#{rung}"


@dataclass(frozen=True)
class Record:
    """How one artifact was made. ``command`` rebuilds it (``{run}`` stands for the run
    directory); ``inputs`` maps each input's key (a run file, a rung key, or an absolute path
    outside the run) to its SHA-256 when read; ``sha256`` is the artifact's as written (None
    for a refusal, whose reason is ``refused``)."""

    stage: str
    command: str
    inputs: dict[str, str]
    options: dict[str, Any]
    sha256: str | None
    refused: str | None = None
    made: str = ""


@dataclass(frozen=True)
class Stale:
    """Why ``key`` is stale (``why``) and the commands that rebuild it, upstream first."""

    key: str
    why: str
    rebuild: tuple[str, ...] = field(default_factory=tuple)

    def message(self, run_dir: Path) -> str:
        cmds = ", then ".join(f"`{c.replace(RUN_PLACEHOLDER, str(run_dir))}`" for c in self.rebuild)
        why = self.why.replace(RUN_PLACEHOLDER, str(run_dir))
        return (
            f"{run_dir / self.key.split('#')[0]}{_rung_suffix(self.key)} is stale ({why}): "
            f"rebuild with {cmds}, or `spikefold run {run_dir}` (rebuilds every stale stage)"
        )


def _rung_suffix(key: str) -> str:
    return f" rung {key.split('#', 1)[1]}" if "#" in key else ""


# ---------------------------------------------------------------------------------------------
# content hashes


def _sha_file(path: Path) -> str | None:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=True).encode()


def digest(run_dir: str | os.PathLike, key: str) -> str | None:
    """SHA-256 of an artifact now (None when absent): a file's bytes, or a rung entry's
    canonical JSON. ``key`` is relative to ``run_dir`` unless absolute."""
    run_dir = Path(run_dir)
    if "#" not in key:
        return _sha_file(run_dir / key)
    name, rung = key.split("#", 1)
    path = run_dir / name
    if not path.is_file():
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8")).get("rungs", {}).get(rung)
    except (OSError, ValueError, AttributeError):
        return None
    return None if entry is None else hashlib.sha256(_canonical(entry)).hexdigest()


class _Digests(dict):
    """Hashes computed once per check (a check may meet the same input on several paths)."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir

    def __missing__(self, key: str) -> str | None:
        value = self[key] = digest(self.run_dir, key)
        return value


# ---------------------------------------------------------------------------------------------
# the manifest


def read_manifest(run_dir: str | os.PathLike) -> dict[str, Record]:
    """The records of ``run_dir/provenance.json`` ({} when there is none). A corrupt
    manifest raises :class:`ConfigError` naming it: a history that cannot be read cannot
    vouch for anything."""
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") != SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r}, expected {SCHEMA}")
        return {k: Record(**v) for k, v in data["artifacts"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConfigError(
            f"{path}: not a readable provenance manifest ({exc}); delete it to accept the "
            "run's artifacts as they are, or rebuild the run with `spikefold train --overwrite`"
        ) from exc


def _write_manifest(run_dir: Path, records: Mapping[str, Record]) -> None:
    data = {"schema": SCHEMA, "artifacts": {k: asdict(v) for k, v in sorted(records.items())}}
    atomic_write_text(run_dir / MANIFEST, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def record(
    run_dir: str | os.PathLike,
    stage: str,
    command: str,
    outputs: Iterable[str],
    inputs: Iterable[str] = (),
    options: Mapping[str, Any] | None = None,
    *,
    refused: str | None = None,
) -> None:
    """Record that ``command`` (``{run}`` for the run directory) made ``outputs`` from
    ``inputs`` (hashed now: call this right after writing, with the inputs as they were read)
    with ``options``. With ``refused`` the outputs were not made, for that reason."""
    run_dir = Path(run_dir)
    hashes = _Digests(run_dir)
    ins = {}
    for key in inputs:
        sha = hashes[key]
        if sha is None:
            raise ConfigError(f"provenance: input {key!r} of stage {stage!r} does not exist")
        ins[key] = sha
    made = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    opts = json.loads(_canonical(dict(options or {})))  # plain JSON values, as read back
    records = read_manifest(run_dir)
    for key in outputs:
        sha = None if refused else hashes[key]
        if sha is None and not refused:
            raise ConfigError(f"provenance: output {key!r} of stage {stage!r} was not written")
        records[key] = Record(stage, command, ins, opts, sha, refused, made)
    _write_manifest(run_dir, records)


def forget(run_dir: str | os.PathLike, keys: Iterable[str]) -> None:
    """Drop the records of ``keys`` (their artifacts were deleted)."""
    run_dir = Path(run_dir)
    records = read_manifest(run_dir)
    keys = [k for k in keys if k in records]
    if keys:
        for k in keys:
            del records[k]
        _write_manifest(run_dir, records)


# ---------------------------------------------------------------------------------------------
# staleness


def stale(run_dir: str | os.PathLike, key: str) -> Stale | None:
    """Why ``key`` is stale, or None when it is fresh or has no record (see the module doc)."""
    run_dir = Path(run_dir)
    return _stale(read_manifest(run_dir), _Digests(run_dir), key, frozenset())


def _stale(records, hashes, key, seen) -> Stale | None:
    rec = records.get(key)
    if rec is None or key in seen:  # no history to check (or a cycle: not ours to loop on)
        return None
    if rec.refused is None:
        now = hashes[key]
        if now is None:
            return Stale(key, "it is missing", (rec.command,))
        if now != rec.sha256:
            return Stale(key, f"it was changed after `{rec.command}` wrote it", (rec.command,))
    for inp in rec.inputs:
        up = _stale(records, hashes, inp, seen | {key})
        if up is not None:  # the first stale file upstream is the one to name
            return Stale(up.key, up.why, tuple(dict.fromkeys((*up.rebuild, rec.command))))
    gone = [inp for inp in rec.inputs if hashes[inp] is None]
    if gone:
        return Stale(key, f"its input {' and '.join(gone)} is gone", (rec.command,))
    older = [inp for inp, sha in rec.inputs.items() if hashes[inp] != sha]
    if older:
        return Stale(key, f"made from an older {' and '.join(older)}", (rec.command,))
    return None


def require_fresh(run_dir: str | os.PathLike, keys: Iterable[str]) -> None:
    """Refuse (:class:`StaleArtifactError`) when any of ``keys`` is stale; the message names
    the first stale file, why, and the commands that rebuild it."""
    run_dir = Path(run_dir)
    records = read_manifest(run_dir)
    if not records:
        return
    hashes = _Digests(run_dir)
    for key in keys:
        found = _stale(records, hashes, key, frozenset())
        if found is not None:
            raise StaleArtifactError(found.message(run_dir), key=key)


def is_current(run_dir: str | os.PathLike, wanted: Mapping[str, Mapping[str, Any]]) -> bool:
    """True when every artifact key of ``wanted`` has a record made with the options given
    for it and is fresh: the stage that makes them would make them again unchanged
    (``spikefold run`` skips it)."""
    return why_rebuild(run_dir, wanted) is None


def why_rebuild(run_dir: str | os.PathLike, wanted: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why the stage making ``wanted`` (artifact key -> options) must run again, in words
    (``"graph.fixed.npz was made with input_bits=5, now 8"``), or None when it is current
    (:func:`is_current`)."""
    run_dir = Path(run_dir)
    records = read_manifest(run_dir)
    hashes = _Digests(run_dir)
    for key, options in wanted.items():
        rec = records.get(key)
        if rec is None:
            made = (run_dir / key.split("#")[0]).exists()
            return f"no record of how {key} was made" if made else f"{key} is not made yet"
        now = json.loads(_canonical(dict(options)))
        if rec.options != now:
            changed = [
                f"{k}={rec.options.get(k, '(unset)')!r}, now {now.get(k, '(unset)')!r}"
                for k in sorted(set(rec.options) | set(now))
                if rec.options.get(k, "(unset)") != now.get(k, "(unset)")
            ]
            return f"{key} was made with {'; '.join(changed)}"
        found = _stale(records, hashes, key, frozenset())
        if found is not None:
            return f"{found.key} is stale: {found.why}"
    return None


def refusals(run_dir: str | os.PathLike) -> dict[str, str]:
    """Recorded refusals whose inputs are unchanged: ``{artifact key: reason}`` (e.g.
    ``{"model.nir": "node 'lif1' (LIF): soft reset ..."}``)."""
    run_dir = Path(run_dir)
    records = read_manifest(run_dir)
    hashes = _Digests(run_dir)
    return {
        k: r.refused
        for k, r in records.items()
        if r.refused is not None and _stale(records, hashes, k, frozenset()) is None
    }


# ---------------------------------------------------------------------------------------------
# ownership

_HELD: dict[Path, int] = {}  # run directories this process holds the lock of -> depth


@contextmanager
def run_lock(run_dir: str | os.PathLike, command: str) -> Iterator[None]:
    """Hold the run directory's write lock (created with the directory). Another process
    holding it: :class:`RunLockedError` at once, naming its pid and command. Re-entrant
    within this process."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: is a file, not a run directory")
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    key = run_dir.resolve()
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    path = run_dir / rundir.LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown"
            raise RunLockedError(
                f"{run_dir} is being written by another spikefold process ({holder}); wait "
                "for it to finish, or give this run another --name"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {command}".encode(), 0)
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
            os.ftruncate(fd, 0)
            if created and [p.name for p in run_dir.iterdir()] == [rundir.LOCK]:
                path.unlink()  # a command refused before writing anything leaves no trace
                run_dir.rmdir()
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def clear_run(run_dir: str | os.PathLike) -> list[str]:
    """Delete every artifact spikefold writes into ``run_dir`` (the files of
    :data:`toolchain.rundir.ARTIFACTS` and the manifest; a user's own files stay). Returns
    the names deleted."""
    run_dir = Path(run_dir)
    gone = []
    for name in (*rundir.ARTIFACTS, MANIFEST):
        path = run_dir / name
        if path.is_file():
            path.unlink()
            gone.append(name)
    return gone

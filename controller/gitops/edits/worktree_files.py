"""Reading and writing files of a checked-out repository without following symlinks.

A repository is tenant content: a committed symlink may point anywhere (``$HOME/.gitconfig``,
``/etc``, another clone), and a dangling one points nowhere. Every read or write of the
write-back goes through this module, which never follows one:

- :func:`manifest_files` lists regular files only; a symlink with a manifest name is reported
  as skipped (:class:`SkippedFile`), a symlinked directory is never entered.
- :func:`read_regular` / :func:`rewrite_regular` open with ``O_NOFOLLOW`` and check the opened
  file is a regular file, so the check and the access are one system call (no race).
- :func:`write_in_worktree` / :func:`read_in_worktree` walk from the worktree root one component
  at a time with ``O_NOFOLLOW`` directory descriptors (``openat``): a symlinked directory on the
  way, or a symlink as the file, raises :class:`UnsafePathError` before anything is written.
- :func:`scope_in_worktree` normalises a ``spec.gitops.path`` lexically and refuses ``..`` that
  leaves the repository and any symlink on the way.

The worktree root itself is trusted (it is the controller's own cache directory).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MANIFEST_SUFFIXES = (".yaml", ".yml")
MANIFEST_NAMES = frozenset({"Kustomization"})
"""File names without a YAML suffix that Flux's setters still read (kustomize's own name)."""
_SKIPPED_DIRS = frozenset({".git"})
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO must not hang a read


class UnsafePathError(ValueError):
    """A path of the repository is a symlink, or leaves the repository: it is not used."""


@dataclass(frozen=True)
class SkippedFile:
    """A file the marker scan did not use, and why (for an Event naming it)."""

    path: Path
    reason: str

    def describe(self, root: Path | None = None) -> str:
        shown = self.path
        if root is not None and self.path.is_relative_to(root):
            shown = self.path.relative_to(root)
        return f"{shown.as_posix()}: {self.reason}"


def is_manifest_name(name: str) -> bool:
    """Whether Flux's setters read a file of this name (``*.yaml``, ``*.yml``, ``Kustomization``)."""
    return name.endswith(MANIFEST_SUFFIXES) or name in MANIFEST_NAMES


def manifest_files(root: Path, skipped: list[SkippedFile] | None = None) -> Iterator[Path]:
    """Every regular manifest file under ``root`` in a stable order, skipping ``.git``.

    Symlinks are never followed: a symlinked directory is not entered, and a symlink with a
    manifest name (dangling or not) is reported in ``skipped``. ``root`` may be one file.
    """
    if root.is_symlink():
        if skipped is not None:
            skipped.append(SkippedFile(root, "symlink, not followed"))
        return
    if root.is_file():
        yield root
        return
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(name for name in subdirs if name not in _SKIPPED_DIRS)
        for name in sorted(files):
            if not is_manifest_name(name):
                continue
            path = Path(directory) / name
            if path.is_symlink():
                if skipped is not None:
                    skipped.append(SkippedFile(path, "symlink, not followed"))
                continue
            yield path


def _refuse(path: Path | str, error: OSError | None = None) -> UnsafePathError:
    detail = "is a symlink or not a regular file"
    if error is not None and error.errno not in (errno.ELOOP, errno.ENOTDIR):
        detail = error.strerror or str(error)
    return UnsafePathError(f"{path}: {detail}; write-back never follows symlinks")


def read_regular(path: Path) -> bytes:
    """The bytes of ``path``; :class:`UnsafePathError` if it is a symlink or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _refuse(path, error) from error
        raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise _refuse(path)
        return handle.read()


def rewrite_regular(path: Path, data: bytes) -> None:
    """Replace the content of the existing regular file ``path`` (never through a symlink)."""
    try:
        fd = os.open(path, os.O_WRONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _refuse(path, error) from error
        raise
    with os.fdopen(fd, "wb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise _refuse(path)
        handle.truncate(0)
        handle.write(data)


def _relative_parts(relative: str | PurePosixPath) -> tuple[str, ...]:
    parts: list[str] = []
    for part in PurePosixPath(str(relative).lstrip("/")).parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafePathError(f"path {str(relative)!r} leaves the repository")
            parts.pop()
            continue
        parts.append(part)
    return tuple(parts)


def _open_dir(name: str, parent_fd: int, shown: str, create: bool) -> int:
    flags = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
    try:
        return os.open(name, flags, dir_fd=parent_fd)
    except FileNotFoundError:
        if not create:
            raise
    os.mkdir(name, 0o755, dir_fd=parent_fd)
    try:
        return os.open(name, flags, dir_fd=parent_fd)
    except OSError as error:
        raise _refuse(shown, error) from error


def _walk_to_parent(worktree: Path, parts: tuple[str, ...], create: bool) -> int:
    """An O_NOFOLLOW descriptor of the directory holding ``parts[-1]`` (caller closes it)."""
    fd = os.open(worktree, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        for index, name in enumerate(parts[:-1]):
            shown = "/".join(parts[: index + 1])
            try:
                next_fd = _open_dir(name, fd, shown, create)
            except OSError as error:
                if isinstance(error, FileNotFoundError):
                    raise
                raise _refuse(shown, error) from error
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_in_worktree(worktree: Path, relative: str, data: bytes) -> Path:
    """Write ``data`` to ``relative`` under ``worktree``, creating directories, following nothing.

    Raises :class:`UnsafePathError` before any write when a component is a symlink (or the
    path leaves the worktree); returns the written path.
    """
    parts = _relative_parts(relative)
    if not parts:
        raise UnsafePathError(f"path {relative!r} names the repository root, not a file")
    parent = _walk_to_parent(worktree, parts, create=True)
    try:
        flags = os.O_WRONLY | os.O_CREAT | _NOFOLLOW | _NONBLOCK | _CLOEXEC
        try:
            fd = os.open(parts[-1], flags, 0o644, dir_fd=parent)
        except OSError as error:
            raise _refuse("/".join(parts), error) from error
    finally:
        os.close(parent)
    with os.fdopen(fd, "wb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise _refuse("/".join(parts))
        handle.truncate(0)
        handle.write(data)
    return worktree.joinpath(*parts)


def read_in_worktree(worktree: Path, relative: str) -> bytes | None:
    """The bytes of ``relative`` under ``worktree``, None if it does not exist; never follows."""
    parts = _relative_parts(relative)
    if not parts:
        raise UnsafePathError(f"path {relative!r} names the repository root, not a file")
    try:
        parent = _walk_to_parent(worktree, parts, create=False)
    except FileNotFoundError:
        return None
    try:
        try:
            fd = os.open(parts[-1], os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=parent)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise _refuse("/".join(parts), error) from error
    finally:
        os.close(parent)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise _refuse("/".join(parts))
        return handle.read()


def scope_in_worktree(worktree: Path, path: str) -> Path:
    """The directory (or file) ``path`` names, relative to the repository root as Flux reads it
    (``./apps``, ``apps`` and ``/apps`` are the same).

    ``..`` leaving the repository, or a symlink anywhere on the way, raises
    :class:`UnsafePathError` (a symlink is refused even when it points inside: nothing the
    write-back reads or writes goes through one).
    """
    try:
        parts = _relative_parts(path)
    except UnsafePathError as error:
        raise UnsafePathError(f"gitops path {path!r} leaves the repository") from error
    current = worktree
    for part in parts:
        current = current / part
        if current.is_symlink():
            target = os.readlink(current)
            where = "leaves the repository through" if _outside(worktree, current) else "goes through"
            raise UnsafePathError(
                f"gitops path {path!r} {where} the symlink "
                f"{current.relative_to(worktree).as_posix()} -> {target}; symlinks are not followed"
            )
    return current


def _outside(worktree: Path, link: Path) -> bool:
    base = worktree.resolve()
    target = link.resolve()
    return target != base and base not in target.parents

"""Models locks: one document saying exactly which model files a pod serves, from where, at which
commit, with which size and sha256 (docs/lockfile.md). ``format`` reads and writes it, ``build``
makes one from presets, a workflow or what is installed, ``apply`` makes a workspace match one."""

from .format import FORMAT, VERSION, LockedFile, LockInvalid, ModelsLock, parse, read

__all__ = ["FORMAT", "VERSION", "LockInvalid", "LockedFile", "ModelsLock", "parse", "read"]

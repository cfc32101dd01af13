"""A small filesystem to fill: for storage-fault tests and `vending chaos --disk-full`.

`SmallDisk.mount(dir)` mounts a tmpfs of a few hundred KiB there (root only);
`fill()` writes a filler file until the filesystem says ENOSPC, `free()`
deletes it. On a folder that is already on a small filesystem (`SmallDisk(dir)`
without mounting) fill and free work the same.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from pathlib import Path

__all__ = ["MountRefused", "SmallDisk"]

FILLER = "filler.bin"


class MountRefused(OSError):
    """`mount` failed (not root, no tmpfs, a container without CAP_SYS_ADMIN)."""


class SmallDisk:
    def __init__(self, path: Path, *, mounted: bool = False) -> None:
        self.path = path
        self.mounted = mounted

    @classmethod
    def mount(cls, path: Path, size: str = "600k") -> SmallDisk:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise MountRefused(errno.EPERM, f"mount tmpfs on {path}: "
                               f"{(done.stderr or done.stdout).strip()}")
        return cls(path, mounted=True)

    def unmount(self) -> None:
        if self.mounted:
            done = subprocess.run(["umount", str(self.path)], capture_output=True, check=False)
            if done.returncode != 0:
                # Lazy: a server killed a moment ago may not have closed its files yet.
                subprocess.run(["umount", "-l", str(self.path)], capture_output=True,
                               check=True)
            self.mounted = False

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int = 0) -> int:
        """Write the filler until ENOSPC (or only `leave` bytes are free); bytes written."""
        written = 0
        chunk = b"\0" * 4096
        fd = os.open(self.path / FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while self.free_bytes() > leave:
                try:
                    written += os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
        finally:
            os.close(fd)
        return written

    def free(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.path / FILLER).unlink()

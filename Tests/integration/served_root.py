"""The directory tree every test daemon serves, and what its files hold."""

from __future__ import annotations

import os
from pathlib import Path

HELLO = b"Hello from filer.\n"
SECRET = b"secret outside the root: must never be served\n"
UTF8_TEXT = (
    "h\u00e9llo w\u00f6rld \u2603 \U0001F600 \u4e2d\u6587 "
    '"quoted" \'single\' back\\slash \\n literal / slash\n'
    "second line\r\n\ttabbed \x00 nul \x01 \x08 \x0c \x1b \x1f \x7f del "
    "\u2028 ls \u2029 ps \ufffd replacement-char end"
).encode("utf-8")
BOM_TEXT = "\ufeffstarts with a byte order mark\n".encode("utf-8")
BINARY = bytes(range(256)) + b"\xff\xfe\x80\xc3\x28 not utf-8 \xed\xa0\x80"
MAX_FILE_SIZE = 1024  # the limit the bad-request daemon runs with (--max-file-size 1KiB)
MAX_REQUEST_SIZE = 1024  # (--max-request-size 1KiB)


def populate_root(base: Path) -> Path:
    """<base>/root with every kind of file the tests ask for, and <base>/outside next to it."""
    root = base / "root"
    outside = base / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)

    (root / "hello.txt").write_bytes(HELLO)
    (root / "dir").mkdir()
    (root / "dir" / "x.txt").write_bytes(b"nested x\n")
    (root / "a").mkdir()
    (root / "utf8.txt").write_bytes(UTF8_TEXT)
    (root / "bom.txt").write_bytes(BOM_TEXT)
    (root / "binary.bin").write_bytes(BINARY)
    (root / "empty.txt").write_bytes(b"")
    (root / "big.bin").write_bytes(os.urandom(700 * 1024))
    (root / "at-limit.txt").write_bytes(b"L" * MAX_FILE_SIZE)
    (root / "over-limit.txt").write_bytes(b"O" * (MAX_FILE_SIZE + 1))
    (root / "secret.txt").write_bytes(b"this secret.txt is inside the root\n")
    # Symlinks: relative ones that stay inside, and ones that lead out.
    os.symlink("hello.txt", root / "link.txt")
    os.symlink("../hello.txt", root / "dir" / "up.txt")
    os.symlink(str(outside / "secret.txt"), root / "abs-out.txt")
    os.symlink("../outside/secret.txt", root / "rel-out.txt")
    os.symlink("/etc/passwd", root / "passwd-link")
    os.symlink(str(outside), root / "outdir")
    os.symlink("missing-target", root / "dangling")
    os.mkfifo(root / "fifo")
    noperm = root / "noperm.txt"
    noperm.write_bytes(b"no permission\n")
    noperm.chmod(0)
    return root

"""Decompression bombs built cheaply, and a victim process with bounded address space.

A bomb inflates to ``total`` bytes of ``b"0"`` (between a ``head`` and a ``tail``) but is
built without compressing ``total`` bytes: deflate blocks ended by a full flush do not
depend on what came before, so one block of a 16 MiB run is repeated. The checksums are
real (a victim without a limit would inflate it all and accept it).
"""

from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
import zlib

import zstandard

RUN = 16 << 20
_ZEROS = b"0" * RUN


def _deflate(total: int, head: bytes, tail: bytes) -> tuple[bytes, int, int]:
    """Raw deflate of head + total x "0" + tail, with its CRC-32 and Adler-32."""
    assert total % RUN == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head) + c.compress(_ZEROS) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(_ZEROS) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(_ZEROS) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == again, "full-flush blocks of one run must repeat"
    count = total // RUN
    last = c.compress(tail) + c.flush()
    raw = first + block * (count - 1) + last
    crc = zlib.crc32(head)
    adler = zlib.adler32(head)
    for _ in range(count):
        crc = zlib.crc32(_ZEROS, crc)
        adler = zlib.adler32(_ZEROS, adler)
    return raw, zlib.crc32(tail, crc), zlib.adler32(tail, adler)


def gzip_bomb(total: int, head: bytes = b"", tail: bytes = b"") -> bytes:
    """One gzip member inflating to len(head) + total + len(tail) bytes."""
    raw, crc, _ = _deflate(total, head, tail)
    size = (len(head) + total + len(tail)) & 0xFFFFFFFF
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + raw + struct.pack("<II", crc, size)


def zlib_bomb(total: int, head: bytes = b"", tail: bytes = b"") -> bytes:
    raw, _, adler = _deflate(total, head, tail)
    return b"\x78\xda" + raw + struct.pack(">I", adler)


def gzip_members_bomb(total: int, head: bytes = b"", tail: bytes = b"") -> bytes:
    """Many small gzip members (gzip's multi-member form), one per 16 MiB run."""
    member = zlib.compress(_ZEROS, 9, wbits=31)
    return (zlib.compress(head, 9, wbits=31) + member * (total // RUN)
            + zlib.compress(tail, 9, wbits=31))


def zstd_bomb(total: int, head: bytes = b"", tail: bytes = b"",
              content_size: bool = False) -> bytes:
    """A zstd frame of head + total x "0" + tail, its content size declared in the frame
    header when ``content_size`` (never compressing the whole in one piece)."""
    size = len(head) + total + len(tail) if content_size else -1
    z = zstandard.ZstdCompressor(level=1).compressobj(size=size)
    parts = [z.compress(head)] + [z.compress(_ZEROS) for _ in range(total // RUN)]
    return b"".join([*parts, z.compress(tail), z.flush()])


# ---------------------------------------------------------------- the victim

AS_LIMIT = 3 << 30  # the child's address space: 3 GB, less than every bomb inflates to

_PRELUDE = """
import json, resource, sys, traceback, warnings
warnings.simplefilter("always")
caught = []
warnings.showwarning = lambda m, *a, **k: caught.append(str(m))
def _finish(**out):
    out["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open("/proc/self/status") as status:
        out["vm_peak_kb"] = [ln.split()[1] for ln in status if ln.startswith("VmPeak")]
    out["warnings"] = caught
    print("RESULT " + json.dumps(out, default=str))
try:
{body}
except BaseException as exc:
    _finish(error=type(exc).__name__, message=str(exc)[:2000],
            trace=traceback.format_exc()[-6000:])
"""


def _limit_memory() -> None:  # runs in the child before it execs Python
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))


def run_victim(body: str, env: dict | None = None, timeout: float = 240) -> dict:
    """Run ``body`` (indented Python; ends by calling ``_finish(**results)``) in a child with
    a 3 GB address space; what it reported, its exit code and its peak RSS."""
    indented = "\n".join("    " + line for line in body.strip("\n").splitlines())
    code = _PRELUDE.format(body=indented)
    # glibc reserves 64 MB of address space per thread arena: without this cap a dozen
    # worker threads use up the 3 GB before any body is read.
    child_env = {**os.environ, "MALLOC_ARENA_MAX": "2", **(env or {})}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_limit_memory, env=child_env,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, (f"the victim ended with code {done.returncode} without a result "
                   f"(killed, or out of memory?):\n{done.stderr[-3000:]}")
    out = json.loads(lines[-1][len("RESULT "):])
    out["returncode"] = done.returncode
    out["peak_rss_mb"] = round(out["peak_rss_kb"] / 1024, 1)
    out["children_peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    return out

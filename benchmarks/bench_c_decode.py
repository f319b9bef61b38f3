"""C decoder speed: whole-file decode of the 4096x4096 FC at 10 % with decoders/c/dcformat.h, against the library's
fastest path (numba kernels) and against np.load of the dense .npy (the memcpy-speed reference), in one process.

Run:  python benchmarks/bench_c_decode.py [--repeat 7] [--cc cc]
      python benchmarks/bench_c_decode.py --timeline [--repeat 20]   (where a fresh-output two-thread decode's time goes)

The header is compiled with -O2 into a shared object (plus a 30-line wrapper) and called through ctypes on the file's
bytes already in memory, so each C timing covers what an app pays: open (preamble, section walk, every CRC, the
table) and decode (streams, gap walk, output). The three sides alternate; the best of --repeat runs is reported.
Goal (issue 10): >= 300 M nonzeros/s on one core. Also prints the size of the decoder's object file (-O2 -c).
The dense output buffers are reused (their pages are faulted in once), so these are decode-only figures; "C dense,
2 thr." is dcf_decode_dense_threads with a POSIX second thread (wall time, and the CPU time of both threads); the
page-fault side of a fresh output is benchmarks/bench_decode.py's (plain dcformat.load()).
The same FC is measured twice: with the default Huffman streams (format 1.0) and with rANS streams (format 1.1,
CompressionConfig(entropy="rans")); --entropy picks one.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import best_of  # noqa: E402  (benchmarks/_common.py)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dcformat  # noqa: E402
from dcformat import CompressionConfig  # noqa: E402

WRAPPER = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#ifdef BENCH_TRACE
/* --timeline: DCF_TRACE stamps (label, wall clock, the stamping thread's CPU time), and the scratch allocator of
 * dcformat/_cdecode.c (blocks from 1 MiB on 2 MiB-aligned with transparent huge pages advised), so that the phases
 * cost what they cost in dcformat.load() */
static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *trace_label[256];
static double trace_wall[256], trace_cpu[256];
static int trace_n;
static void bench_trace(const char *label) {
    struct timespec w, c;
    clock_gettime(CLOCK_MONOTONIC, &w);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
    pthread_mutex_lock(&trace_lock);
    if (trace_n < 256) {
        trace_label[trace_n] = label;
        trace_wall[trace_n] = w.tv_sec + 1e-9 * w.tv_nsec;
        trace_cpu[trace_n++] = c.tv_sec + 1e-9 * c.tv_nsec;
    }
    pthread_mutex_unlock(&trace_lock);
}
int bench_trace_count(void) { return trace_n; }
const char *bench_trace_label(int i) { return trace_label[i]; }
double bench_trace_wall(int i) { return trace_wall[i]; }
double bench_trace_cpu(int i) { return trace_cpu[i]; }
void bench_trace_reset(void) { trace_n = 0; }
void bench_trace_mark(const char *label) { bench_trace(label); }
static void *huge_malloc(size_t size) {
    if (size >= ((size_t)1 << 20)) {
        void *p = NULL;
        size_t r = (size + ((size_t)2 << 20) - 1) & ~(((size_t)2 << 20) - 1);
        if (posix_memalign(&p, (size_t)2 << 20, r)) return NULL;
        madvise(p, r, MADV_HUGEPAGE);
        return p;
    }
    return malloc(size);
}
#define DCF_MALLOC(size) huge_malloc(size)
#define DCF_FREE(ptr) free(ptr)
#define DCF_TRACE(label) bench_trace(label)
#endif
#define DCFORMAT_IMPLEMENTATION
#include "dcformat.h"
/* dcf_threads on POSIX threads; the second thread's CPU time is summed up (bench_second_cpu) */
typedef struct { pthread_t th; void (*fn)(void *); void *arg; } second_thread;
static double second_cpu;
static double thread_cpu(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static void *trampoline(void *p) {
    second_thread *t = (second_thread *)p; double t0 = thread_cpu();
    t->fn(t->arg);
    second_cpu += thread_cpu() - t0;
    return NULL;
}
double bench_second_cpu(void) { double v = second_cpu; second_cpu = 0; return v; }
static int start_second(void *self, void (*fn)(void *), void *arg) {
    second_thread *t = (second_thread *)self; t->fn = fn; t->arg = arg;
    return pthread_create(&t->th, NULL, trampoline, t) == 0;
}
static void join_second(void *self) { pthread_join(((second_thread *)self)->th, NULL); }
/* Whole-file decode into one caller buffer (tensors back to back); returns 0 or the dcf_status. threads: 1 or 2. */
int bench_dense(const void *data, size_t size, void *out, size_t out_size, int threads) {
    dcf_file *f; dcf_error err; size_t i, at = 0; int s;
    second_thread th; dcf_threads two = {start_second, join_second, NULL, NULL};
    two.self = &th;
    if ((s = dcf_open_memory(&f, data, size, NULL, NULL, &err))) return s;
    for (i = 0; i < dcf_tensor_count(f); i++) {
        const dcf_tensor_info *t = dcf_tensor(f, i);
        if (at + t->nbytes > out_size) { dcf_close(f); return -1; }
        if ((s = dcf_decode_dense_threads(f, i, (char *)out + at, (size_t)t->nbytes, threads > 1 ? &two : NULL, &err))) { dcf_close(f); return s; }
        at += (size_t)t->nbytes;
    }
    dcf_close(f);
    return 0;
}
/* A fresh output as NumPy allocates a large array (calloc: fresh zero pages; transparent huge pages advised on the
 * 2 MiB-aligned part, as numpy does from 4 MiB on) and dcformat._cdecode's populate hook (MADV_POPULATE_WRITE). */
static void *fresh_output(size_t n) {
    char *p = (char *)calloc(1, n);
    uintptr_t a = ((uintptr_t)p + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1), e = ((uintptr_t)p + n) & ~(uintptr_t)4095;
    if (p && e > a) madvise((void *)a, e - a, MADV_HUGEPAGE);
    return p;
}
static void populate_pages(void *self, void *addr, size_t len) {
    uintptr_t a = ((uintptr_t)addr + 4095) & ~(uintptr_t)4095, e = ((uintptr_t)addr + len) & ~(uintptr_t)4095;
    (void)self;
    if (e > a) madvise((void *)a, e - a, MADV_POPULATE_WRITE);
}
/* What dcformat.load() does in C: open (every CRC), a fresh zeroed output, decode tensor 0 into it with the payload
 * entry point (out_is_zero), free. threads 1 or 2; populate: the populate hook (two threads only). */
int bench_fresh(const void *data, size_t size, int threads, int populate) {
    dcf_file *f; dcf_error err; int s; void *out; const dcf_tensor_info *t;
    second_thread th; dcf_threads two = {start_second, join_second, NULL, NULL};
    two.self = &th;
    if (populate) two.populate = populate_pages;
    if ((s = dcf_open_memory(&f, data, size, NULL, NULL, &err))) return s;
    t = dcf_tensor(f, 0);
    out = fresh_output((size_t)t->nbytes);
    if (!out) { dcf_close(f); return -1; }
    s = dcf_decode_payload_dense_threads((const char *)data + t->payload_offset, (size_t)t->payload_len, t->name,
                                         t->dtype, t->encoding, t->ndim, t->shape, 1, NULL, out, (size_t)t->nbytes, 1,
                                         threads > 1 ? &two : NULL, &err);
    free(out);
    dcf_close(f);
    return s;
}
/* The floor under bench_fresh: a fresh output of n bytes made present (every page zeroed by the kernel), by one
 * thread or by two threads (each half), then freed. */
static void populate_half(void *arg) { size_t *r = (size_t *)arg; populate_pages(NULL, (void *)r[0], r[1]); }
int bench_touch(size_t n, int threads) {
    char *out = (char *)fresh_output(n);
    size_t lo[2], hi[2];
    second_thread th;
    if (!out) return -1;
    lo[0] = (size_t)out; lo[1] = n / 2; hi[0] = (size_t)out + n / 2; hi[1] = n - n / 2;
    if (threads > 1 && start_second(&th, populate_half, hi)) { populate_half(lo); join_second(&th); }
    else { populate_half(lo); populate_half(hi); }
    free(out);
    return 0;
}
/* A caller arena (bump allocator, reset per file): what an app that supplies its own allocator pays. */
static char *arena_base; static size_t arena_used, arena_cap;
static void *arena_alloc(void *u, size_t n) {
    size_t at = (arena_used + 63) & ~(size_t)63; (void)u;
    if (at + n > arena_cap) return NULL;
    arena_used = at + n;
    return arena_base + at;
}
static void arena_free(void *u, void *p) { (void)u; (void)p; }
int bench_arena_init(size_t cap) {
    size_t i;
    arena_base = (char *)malloc(cap); arena_cap = cap;
    if (!arena_base) return -1;
    for (i = 0; i < cap; i += 4096) arena_base[i] = 0; /* pages touched once, as in a long-running app */
    return 0;
}
/* Whole-file decode to CSR (quantized tensors); returns total nnz, or -status. */
long long bench_csr(const void *data, size_t size, int use_arena) {
    dcf_file *f; dcf_error err; size_t i; long long nnz = 0; int s;
    dcf_allocator arena = {arena_alloc, arena_free, NULL};
    arena_used = 0;
    if ((s = dcf_open_memory(&f, data, size, NULL, use_arena ? &arena : NULL, &err))) return -s;
    for (i = 0; i < dcf_tensor_count(f); i++) {
        dcf_csr c;
        if (dcf_tensor(f, i)->encoding == DCF_RAW) continue;
        if ((s = dcf_decode_csr(f, i, &c, &err))) { dcf_close(f); return -s; }
        nnz += (long long)c.nnz;
        dcf_csr_free(f, &c);
    }
    dcf_close(f);
    return nnz;
}
"""


def build(cc: str, out: Path) -> tuple[ctypes.CDLL, int]:
    src = out / "bench_wrapper.c"
    src.write_text(WRAPPER)
    inc = ["-I", str(ROOT / "decoders" / "c")]
    so = out / "libdcfbench.so"
    subprocess.run([cc, "-std=c99", "-O2", "-fPIC", "-shared", *inc, "-o", str(so), str(src), "-lpthread"], check=True)
    obj_src = out / "dcformat_impl.c"
    obj_src.write_text('#define DCFORMAT_IMPLEMENTATION\n#include "dcformat.h"\n')
    obj = out / "dcformat.o"
    subprocess.run([cc, "-std=c99", "-O2", "-c", *inc, "-o", str(obj), str(obj_src)], check=True)
    size_out = subprocess.run(["size", str(obj)], capture_output=True, text=True)
    text = int(size_out.stdout.splitlines()[1].split()[0]) if size_out.returncode == 0 else -1
    subprocess.run([cc, "-std=c99", "-O2", "-fPIC", "-shared", "-DBENCH_TRACE", *inc, "-o", str(out / "libdcftrace.so"),
                    str(src), "-lpthread"], check=True)
    lib = ctypes.CDLL(str(so))
    lib.bench_dense.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    lib.bench_dense.restype = ctypes.c_int
    lib.bench_csr.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    lib.bench_fresh.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int]
    lib.bench_touch.argtypes = [ctypes.c_size_t, ctypes.c_int]

    lib.bench_csr.restype = ctypes.c_longlong
    lib.bench_second_cpu.restype = ctypes.c_double
    lib.bench_arena_init.argtypes = [ctypes.c_size_t]
    assert lib.bench_arena_init(256 << 20) == 0
    return lib, text


def fresh_output_floor(lib: ctypes.CDLL, buf, size: int, nbytes: int, nnz: int, repeat: int) -> None:
    """Decode into a fresh output (what dcformat.load() pays: the kernel zeroing its pages on first touch) with one
    thread, two, and two with the page-populating hook; and the floor under it: only making a fresh output of the same
    size present, with one thread and with two (wall), alternated in this process."""
    sides = {"fresh, 1 thr.": lambda: lib.bench_fresh(buf, size, 1, 0),
             "fresh, 2 thr.": lambda: lib.bench_fresh(buf, size, 2, 0),
             "fresh, 2 thr. + populate": lambda: lib.bench_fresh(buf, size, 2, 1),
             "touch output, 1 thr.": lambda: lib.bench_touch(nbytes, 1),
             "touch output, 2 thr.": lambda: lib.bench_touch(nbytes, 2)}
    for f in sides.values():
        assert f() == 0
    best = {k: float("inf") for k in sides}
    cpu = {k: float("inf") for k in sides}
    for _ in range(repeat):
        for k, f in sides.items():
            t, c = time.perf_counter(), time.process_time()
            f()
            best[k] = min(best[k], time.perf_counter() - t)
            cpu[k] = min(cpu[k], time.process_time() - c)
    for k in sides:
        rate = f"{nnz / best[k] / 1e6:7.1f} M nonzeros/s" if k.startswith("fresh") else " " * 20
        print(f"  {k:<26} {best[k] * 1e3:7.2f} ms {rate}  CPU time (all threads) {cpu[k] * 1e3:6.2f} ms")
    print(f"  fresh, 2 thr. + populate vs. without: {best['fresh, 2 thr. + populate'] / best['fresh, 2 thr.']:.2f}x wall")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--cc", default=os.environ.get("DCFORMAT_CC", "cc"))
    ap.add_argument("--entropy", choices=["huffman", "rans", "both"], default="both")
    ap.add_argument("--timeline", action="store_true", help="only the phase timeline of the fresh-output decode")
    args = ap.parse_args()
    for entropy in (["huffman", "rans"] if args.entropy == "both" else [args.entropy]):
        (timeline if args.timeline else measure)(args, entropy)


def timeline(args: argparse.Namespace, entropy: str) -> None:
    """Where the wall time of a fresh-output two-thread decode goes (bench_fresh with DCF_TRACE stamps): the phases of
    the best of --repeat runs, each with the stamping thread's CPU time, with and without the populate hook; and the
    CPU-time critical path (what the wall time would be with a second core to itself: the steadier figure on a
    shared machine)."""
    rng = np.random.default_rng(0)
    weights = {"fc": (rng.standard_normal((4096, 4096)) * 0.02).astype(np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build(args.cc, tmp)
        lib = ctypes.CDLL(str(tmp / "libdcftrace.so"))
        lib.bench_fresh.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int]
        lib.bench_trace_label.restype = ctypes.c_char_p
        lib.bench_trace_wall.restype = lib.bench_trace_cpu.restype = ctypes.c_double
        lib.bench_trace_mark.argtypes = [ctypes.c_char_p]
        dc = tmp / "m.dc"
        dcformat.save(dc, weights, config=CompressionConfig(density=0.1, entropy=entropy))
        data = dc.read_bytes()
        buf = (ctypes.c_char * len(data)).from_buffer_copy(data)
        print(f"4096x4096 FC at 10 %, {'rANS (1.1)' if entropy == 'rans' else 'Huffman (1.0)'}, fresh output, 2 threads "
              f"(load average {os.getloadavg()[0]:.2f})")
        for populate in (1, 0):
            best, best_path, best_cp = None, float("inf"), float("inf")
            for _ in range(args.repeat):
                lib.bench_trace_reset()
                lib.bench_trace_mark(b"A: open (every CRC), fresh output, decode")
                assert lib.bench_fresh(buf, len(data), 2, populate) == 0
                lib.bench_trace_mark(b"A: returned (scratch and output freed)")
                stamps = [(lib.bench_trace_label(i).decode(), lib.bench_trace_wall(i), lib.bench_trace_cpu(i))
                          for i in range(lib.bench_trace_count())]
                cpu = {label: c for label, _, c in stamps}
                span = lambda a, b: cpu.get(b, 0.0) - cpu.get(a, 0.0)  # noqa: E731  (CPU time of one thread's phase)
                cp = (span("A: open (every CRC), fresh output, decode", "A: streams begin")
                      + max(span("A: fast2 begin", "A: fast2 end") + span("A: stream begin", "A: stream end"),
                            span("B: populate begin", "B: populate end") + span("B: stream begin", "B: stream end"))
                      + max(span("A: walk begin", "A: walk end"), span("B: walk begin", "B: walk end")))
                wall = stamps[-1][1] - stamps[0][1]
                best_cp = min(best_cp, cp)
                if wall < best_path:
                    best, best_path = stamps, wall
            print(f"  populate={populate}: best wall {best_path * 1e3:.2f} ms; CPU-time critical path (best) "
                  f"{best_cp * 1e3:.2f} ms = {1677722 / best_cp / 1e6:.0f} M nonzeros/s with a free second core")
            t0, c0 = best[0][1], {}
            for label, w, c in sorted(best, key=lambda st: st[1]):
                who = label[0]
                if who == "B" and label.endswith("begin"):
                    c0[who] = c  # each phase of the second thread is a new thread (its CPU clock starts at 0)
                print(f"    {(w - t0) * 1e3:7.2f} ms  {label:<44} thread CPU +{(c - c0.get(who, c)) * 1e3:6.2f} ms "
                      f"(since its previous stamp)")
                c0[who] = c


def measure(args: argparse.Namespace, entropy: str) -> None:
    os.environ["DCFORMAT_ACCEL"] = "1"  # the library's fastest path (numba kernels when installed)
    rng = np.random.default_rng(0)  # the same construction as benchmarks/bench_decode.py's first case
    weights = {"fc": (rng.standard_normal((4096, 4096)) * 0.02).astype(np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        lib, text_bytes = build(args.cc, tmp)
        dc = tmp / "m.dc"
        dcformat.save(dc, weights, config=CompressionConfig(density=0.1, entropy=entropy))
        data = dc.read_bytes()
        want = dcformat.load(dc)["fc"]
        npy = tmp / "fc.npy"
        np.save(npy, want)
        with dcformat.open(dc) as f:
            nnz = f.info("fc").nnz
            entries = nnz + f.info("fc").n_fillers
        buf = (ctypes.c_char * len(data)).from_buffer_copy(data)
        out, out2 = np.empty_like(want), np.empty_like(want)
        assert lib.bench_dense(buf, len(data), out.ctypes.data, out.nbytes, 1) == 0
        assert out.tobytes() == want.tobytes(), "C and library disagree"
        assert lib.bench_csr(buf, len(data), 0) == nnz and lib.bench_csr(buf, len(data), 1) == nnz
        dcformat.load(dc)  # warm the kernels (their one-shot compile is bench_decode.py's business)
        assert lib.bench_dense(buf, len(data), out2.ctypes.data, out2.nbytes, 2) == 0 and out2.tobytes() == want.tobytes()
        t_c, t_c2, t_csr, t_arena, t_lib, t_npy = [], [], [], [], [], []
        for _ in range(args.repeat):  # alternate the sides so machine drift hits all of them
            t_c.append(best_of(lambda: lib.bench_dense(buf, len(data), out.ctypes.data, out.nbytes, 1), 1))
            t_c2.append(best_of(lambda: lib.bench_dense(buf, len(data), out2.ctypes.data, out2.nbytes, 2), 1))
            t_csr.append(best_of(lambda: lib.bench_csr(buf, len(data), 0), 1))
            t_arena.append(best_of(lambda: lib.bench_csr(buf, len(data), 1), 1))
            t_lib.append(best_of(lambda: dcformat.decode(data), 1))
            t_npy.append(best_of(lambda: np.load(npy, allow_pickle=False), 1))
        t_c, t_c2, t_csr, t_arena, t_lib, t_npy = min(t_c), min(t_c2), min(t_csr), min(t_arena), min(t_lib), min(t_npy)
        cpu = {"dense": best_of(lambda: lib.bench_dense(buf, len(data), out.ctypes.data, out.nbytes, 1), args.repeat, time.thread_time),
               "csr": best_of(lambda: lib.bench_csr(buf, len(data), 0), args.repeat, time.thread_time),
               "arena": best_of(lambda: lib.bench_csr(buf, len(data), 1), args.repeat, time.thread_time),
               "dense2": best_of(lambda: lib.bench_dense(buf, len(data), out2.ctypes.data, out2.nbytes, 2), args.repeat,
                                 time.process_time)}  # both threads' CPU time
        split = []  # (calling thread's CPU time, second thread's) of two-thread decodes
        for _ in range(args.repeat):
            lib.bench_second_cpu()
            c0 = time.thread_time()
            lib.bench_dense(buf, len(data), out2.ctypes.data, out2.nbytes, 2)
            split.append((time.thread_time() - c0, lib.bench_second_cpu()))
        main_cpu, second = min(split)
        print(f"4096x4096 FC at 10 %, {'rANS (1.1)' if entropy == 'rans' else 'Huffman (1.0)'}: {len(data):,} bytes, {nnz:,} nonzeros ({entries:,} gap symbols incl. fillers), "
              f"dense {want.nbytes / 2**20:.0f} MiB")
        for label, wall, key, note in (("C dense decode", t_c, "dense", ""),
                                       ("C dense, 2 thr.", t_c2, "dense2", "  (CPU time of both threads)"),
                                       ("C CSR decode", t_csr, "csr", ""),
                                       ("C CSR decode", t_arena, "arena", "  (caller arena allocator: no page faults)")):
            print(f"  {label:<18} {wall * 1e3:7.2f} ms  {nnz / wall / 1e6:7.1f} M nonzeros/s   CPU time "
                  f"{cpu[key] * 1e3:6.2f} ms = {nnz / cpu[key] / 1e6:6.1f} M nonzeros/s{note}")
        print(f"  2 threads: CPU time of the calling thread {main_cpu * 1e3:.2f} ms, of the second thread "
              f"{second * 1e3:.2f} ms (with a free second core the wall time is at least the larger, about it when the "
              f"calling thread waits little: {nnz / max(main_cpu, second) / 1e6:.0f} M nonzeros/s)")
        fresh_output_floor(lib, buf, len(data), want.nbytes, nnz, args.repeat)
        print(f"  library decode     {t_lib * 1e3:7.2f} ms  {nnz / t_lib / 1e6:7.1f} M nonzeros/s  (dcformat.decode, "
              f"DCFORMAT_ACCEL=1)")
        print(f"  np.load .npy       {t_npy * 1e3:7.2f} ms  (dense float32 from the page cache)")
        print(f"  ratios: C dense / library {t_c / t_lib:.2f}x, C dense / np.load {t_c / t_npy:.2f}x, "
              f"C CSR / library {t_csr / t_lib:.2f}x")
        print(f"  decoder object file (-O2 -c, {args.cc}): text {text_bytes:,} bytes "
              f"({(tmp / 'dcformat.o').stat().st_size:,} bytes on disk)")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"({time.perf_counter() - t0:.1f} s)")

/* dcformat._cdecode: the C decoder of decoders/c/dcformat.h as an optional CPython extension.
 *
 * Why: the pure-NumPy decode of a Huffman-coded sparse tensor needs several vectorised passes per stream
 * (~25 M nonzeros/s), numba costs ~0.3 s to load in a fresh process; this is one compiled pass with no warm-up.
 * It is an accelerator, not a second definition of the format: it is the independent C99 decoder (fuzzed, checked
 * against every golden and invalid vector), included here unchanged, behind its payload-level entry points.
 *
 * Contract with the Python side (dcformat/container/materialize.py): the caller has verified the DATA section's CRC
 * and checked the dense size against its limits; it passes the payload bytes, the table entry (name, dtype code,
 * encoding code, shape), the per-tensor limits and the file's header flags (bit 0 allows RANS streams, format 1.1;
 * without it a RANS stream is invalid, so the default 0 declines them). Each function returns a status code (0 = decoded) and the C
 * decoder's message; on any non-zero status the caller discards the output and runs the checked NumPy path, which
 * raises the library's error. Needs no NumPy headers: outputs are buffers (a writable array, or bytearrays).
 * The GIL is released while decoding, so several tensors can be decoded from threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* The decoder's scratch arrays (a SPARSE tensor's gap and value symbols: ~2 bytes per entry each, 7 MB for the
 * 4096 x 4096 FC at 10 %) are fresh memory on every call: glibc maps blocks this large anew each time, and on 4 KiB
 * pages their ~1,700 page faults cost more CPU time than the value stream's Huffman decode. On Linux, blocks of
 * 1 MiB or more are aligned to 2 MiB and advised MADV_HUGEPAGE (transparent huge pages in "madvise" mode, as NumPy
 * does for its own large arrays): a few faults per array instead of one per 4 KiB. Elsewhere plain malloc. */
#define CDEC_HUGE_MIN ((size_t)1 << 20)
#define CDEC_HUGE_PAGE ((size_t)2 << 20)
static void *cdec_malloc(size_t size) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (size >= CDEC_HUGE_MIN && size <= (size_t)-1 - CDEC_HUGE_PAGE) {
        void *p = NULL;
        size_t rounded = (size + CDEC_HUGE_PAGE - 1) & ~(CDEC_HUGE_PAGE - 1);
        if (posix_memalign(&p, CDEC_HUGE_PAGE, rounded)) return NULL;
        (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only: without THP the block works the same */
        return p;
    }
#endif
    return malloc(size);
}
#define DCF_MALLOC(size) cdec_malloc(size)
#define DCF_FREE(ptr) free(ptr)

#define DCFORMAT_IMPLEMENTATION
#include "dcformat.h"

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define CDEC_HAVE_THREADS 1
#else
#define CDEC_HAVE_THREADS 0
#endif

/* ---- the second thread of dcf_decode_payload_dense_threads --------------------------------------------------------
 * Why: writing a large dense output is mostly page faults (the kernel zeroes every page on first touch: ~7 ms of CPU
 * for 64 MiB on 2 MiB pages, more than the streams' decode), and they parallelise; so do a SPARSE tensor's gap and
 * value streams, which are independent. The header does the splitting (same result, status and message as one
 * thread); this is its dcf_threads on POSIX threads (elsewhere none is started and the work runs on one thread). */
typedef struct {
#if CDEC_HAVE_THREADS
    pthread_t th;
#endif
    void (*fn)(void *);
    void *arg;
} cdec_thread;

#if CDEC_HAVE_THREADS
static void *cdec_trampoline(void *p) {
    cdec_thread *t = (cdec_thread *)p;
    t->fn(t->arg);
    return NULL;
}
#endif

static int cdec_start(void *self, void (*fn)(void *), void *arg) {
    cdec_thread *t = (cdec_thread *)self;
    t->fn = fn;
    t->arg = arg;
#if CDEC_HAVE_THREADS
    return pthread_create(&t->th, NULL, cdec_trampoline, t) == 0;
#else
    return 0;
#endif
}

/* dcf_threads.populate: the output pages inside [addr, addr + len) made present and writable, their bytes unchanged
 * (MADV_POPULATE_WRITE, Linux 5.14+; elsewhere, or on an older kernel, nothing: the row walk faults them in).
 * Why: the kernel zeroing the fresh pages of a large output is most of its first-touch cost, and it can run on the
 * second core while the first decodes the HUFFMAN streams (two streams interleaved on one thread). */
static void cdec_populate(void *self, void *addr, size_t len) {
    (void)self;
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    {
        uintptr_t page = 4096, a = ((uintptr_t)addr + page - 1) & ~(page - 1), e = ((uintptr_t)addr + len) & ~(page - 1);
        if (e > a) (void)madvise((void *)a, (size_t)(e - a), MADV_POPULATE_WRITE); /* advice: failures are harmless */
    }
#else
    (void)addr;
    (void)len;
#endif
}

static void cdec_join(void *self) {
#if CDEC_HAVE_THREADS
    pthread_join(((cdec_thread *)self)->th, NULL);
#else
    (void)self;
#endif
}

/* The tensor description shared by both entry points: name, dtype, encoding, shape, limits. */
typedef struct {
    const char *name;
    int dtype, encoding;
    uint32_t ndim;
    uint64_t shape[8];
    dcf_limits limits;
} cdec_desc;

static int cdec_parse_desc(PyObject *shape_obj, unsigned long long max_elements, unsigned long long max_bytes,
                           cdec_desc *d) {
    Py_ssize_t i, n;
    PyObject *seq = PySequence_Fast(shape_obj, "shape must be a sequence");
    if (!seq) return -1;
    n = PySequence_Fast_GET_SIZE(seq);
    if (n > 8) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "at most 8 dimensions");
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned long long v = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
        d->shape[i] = v;
    }
    Py_DECREF(seq);
    d->ndim = (uint32_t)n;
    dcf_default_limits(&d->limits);
    d->limits.max_tensor_elements = max_elements;
    d->limits.max_tensor_bytes = max_bytes;
    return 0;
}

PyDoc_STRVAR(dense_doc,
             "dense(payload, name, dtype, encoding, shape, max_elements, max_bytes, out, out_is_zero, file_flags=0,\n"
             "      threads=1, populate=1)\n"
             "    -> (status, message)\n\n"
             "Decode one DATA payload into the writable C-contiguous buffer `out` (the tensor's dense bytes;\n"
             "out_is_zero: it holds zeros already, e.g. from np.zeros, so they are not written twice).\n"
             "file_flags: the file header's flags (bit 0, RANS_STREAMS, allows RANS streams).\n"
             "threads: 2 writes a SPARSE float32 tensor's rows on two threads (same result and errors), else one.\n"
             "populate: with threads=2 and out_is_zero, the second thread populates the output's pages while the\n"
             "first decodes two HUFFMAN streams (0: it does not; the result is the same).\n"
             "status 0: decoded; otherwise the C decoder's error class code and message (the contents of out are\n"
             "then undefined).");

static PyObject *cdec_dense(PyObject *self, PyObject *args) {
    Py_buffer payload, out;
    PyObject *shape_obj, *result;
    unsigned long long max_elements, max_bytes;
    int out_is_zero;
    unsigned int file_flags = 0;
    int threads = 1, populate = 1;
    cdec_desc d;
    dcf_error err;
    dcf_status s;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*siiOKKw*p|Iii", &payload, &d.name, &d.dtype, &d.encoding, &shape_obj, &max_elements,
                          &max_bytes, &out, &out_is_zero, &file_flags, &threads, &populate))
        return NULL;
    if (cdec_parse_desc(shape_obj, max_elements, max_bytes, &d) < 0) {
        PyBuffer_Release(&payload);
        PyBuffer_Release(&out);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    {
        cdec_thread th;
        dcf_threads second = {cdec_start, cdec_join, NULL, NULL};
        second.self = &th;
        if (populate) second.populate = cdec_populate;
        s = dcf_decode_payload_dense_threads(payload.buf, (size_t)payload.len, d.name, (dcf_dtype)d.dtype,
                                             (dcf_encoding)d.encoding, d.ndim, d.shape, (uint32_t)file_flags,
                                             &d.limits, out.buf, (size_t)out.len, out_is_zero,
                                             threads >= 2 ? &second : NULL, &err);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&payload);
    PyBuffer_Release(&out);
    result = Py_BuildValue("(is)", (int)s, s ? err.message : "");
    return result;
}

PyDoc_STRVAR(csr_doc,
             "csr(payload, name, dtype, encoding, shape, max_elements, max_bytes, file_flags=0)\n"
             "    -> (status, message, indptr, indices, codes, codebook)\n\n"
             "CSR of one DATA payload (DENSE or SPARSE) as bytearrays: indptr uint64[rows + 1], indices\n"
             "uint32[nnz], codes uint16[nnz] (codebook index of each entry), codebook float32[K], native byte\n"
             "order. On a non-zero status the four arrays are None.");

static PyObject *cdec_csr(PyObject *self, PyObject *args) {
    Py_buffer payload;
    PyObject *shape_obj, *indptr = NULL, *indices = NULL, *codes = NULL, *codebook = NULL, *result = NULL;
    unsigned long long max_elements, max_bytes;
    unsigned int file_flags = 0;
    cdec_desc d;
    dcf_error err;
    dcf_status s;
    dcf_csr csr;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*siiOKK|I", &payload, &d.name, &d.dtype, &d.encoding, &shape_obj, &max_elements,
                          &max_bytes, &file_flags))
        return NULL;
    if (cdec_parse_desc(shape_obj, max_elements, max_bytes, &d) < 0) {
        PyBuffer_Release(&payload);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    s = dcf_decode_payload_csr(payload.buf, (size_t)payload.len, d.name, (dcf_dtype)d.dtype, (dcf_encoding)d.encoding,
                               d.ndim, d.shape, (uint32_t)file_flags, &d.limits, &csr, &err);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&payload);
    if (s) return Py_BuildValue("(isOOOO)", (int)s, err.message, Py_None, Py_None, Py_None, Py_None);
    /* nnz <= numel <= max_elements and rows + 1 <= numel + 1: the sizes below fit (checked in C before allocating) */
    indptr = PyByteArray_FromStringAndSize((const char *)csr.indptr, (Py_ssize_t)((csr.rows + 1) * 8));
    indices = indptr ? PyByteArray_FromStringAndSize((const char *)csr.indices, (Py_ssize_t)(csr.nnz * 4)) : NULL;
    codes = indices ? PyByteArray_FromStringAndSize((const char *)csr.codes, (Py_ssize_t)(csr.nnz * 2)) : NULL;
    codebook = codes ? PyByteArray_FromStringAndSize((const char *)csr.codebook, (Py_ssize_t)csr.codebook_size * 4) : NULL;
    dcf_csr_free(NULL, &csr);
    if (codebook) return Py_BuildValue("(isNNNN)", 0, "", indptr, indices, codes, codebook); /* N: steals them */
    Py_XDECREF(indptr);
    Py_XDECREF(indices);
    Py_XDECREF(codes);
    return result;
}

static PyMethodDef cdec_methods[] = {
    {"dense", cdec_dense, METH_VARARGS, dense_doc},
    {"csr", cdec_csr, METH_VARARGS, csr_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef cdec_module = {
    PyModuleDef_HEAD_INIT, "dcformat._cdecode",
    "The C99 decoder of decoders/c/dcformat.h behind payload-level entry points (see dcformat.accel).", -1,
    cdec_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cdecode(void) {
    PyObject *m = PyModule_Create(&cdec_module);
    if (m && PyModule_AddIntConstant(m, "ABI", 4) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* libFuzzer target for dcformat.h: open, list, decode every tensor dense and as CSR.
 *
 * Each input runs twice: as it is, and with its header and section CRCs recomputed, so that mutations reach the
 * table and payload parsers instead of stopping at a checksum mismatch (the decoder itself is not changed).
 *
 * An input starting with '{' also runs as the GRPH payload of a fixed file (tensors fc.w and fc.b, as the graph
 * vectors of spec/vectors/invalid), so that JSON mutations reach the graph checks of GRAPH.md §2-§4 directly.
 *
 * Build and run: see decoders/c/README.md ("Fuzzing"). Limits are lowered so that a fuzzed shape cannot ask for
 * more than 128 KiB per tensor (large sizes exercise no other
 * code than small ones, and they slow the run down); any crash, sanitizer report, leak or timeout is a finding.
 *
 * Every dense decode also runs through dcf_decode_dense_threads with a second POSIX thread (a SPARSE float32 tensor's
 * streams and rows split between two threads): it must return the same status, message and bytes.
 */
#define DCFORMAT_IMPLEMENTATION
#include "../dcformat.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* Recompute the CRCs wherever the framing still parses. */
static void fix_crcs(uint8_t *d, size_t size) {
    uint64_t pos = 24, count, i;
    if (size < 24) return;
    put32(d + 20, dcf__crc(d + 8, 12));
    count = dcf__le32(d + 16);
    for (i = 0; i < count && size - pos >= 16; i++) {
        uint64_t len = dcf__le64(d + pos + 8);
        if (len > size - pos - 16 || size - pos - 16 - len < 4) return;
        put32(d + pos + 16 + len, dcf__crc(d + pos, (size_t)(16 + len)));
        pos = (pos + 16 + len + 4 + 7) & ~(uint64_t)7;
        if (pos > size) return;
    }
}

static void one(const uint8_t *data, size_t size);

/* dcf_threads on POSIX threads */
typedef struct {
    pthread_t th;
    void (*fn)(void *);
    void *arg;
} second_thread;

static void *trampoline(void *p) {
    second_thread *t = (second_thread *)p;
    t->fn(t->arg);
    return NULL;
}

static int start_second(void *self, void (*fn)(void *), void *arg) {
    second_thread *t = (second_thread *)self;
    t->fn = fn;
    t->arg = arg;
    return pthread_create(&t->th, NULL, trampoline, t) == 0;
}

static void join_second(void *self) { pthread_join(((second_thread *)self)->th, NULL); }

/* dcf_threads.populate for a zeroed output: every range must be whole rows inside it (else abort); it reads one byte
 * per page (never writes: the first thread may be writing there too) */
static const uint8_t *pop_base;
static size_t pop_size, pop_row_bytes;
static volatile uint8_t pop_sink;
static void populate_check(void *self, void *addr, size_t len) {
    const uint8_t *a = (const uint8_t *)addr;
    size_t k;
    (void)self;
    if (a < pop_base || len == 0 || len > pop_size - (size_t)(a - pop_base) || !pop_row_bytes ||
        (size_t)(a - pop_base) % pop_row_bytes || len % pop_row_bytes)
        abort();
    for (k = 0; k < len; k += 4096) pop_sink = a[k];
}

/* The file of generate_invalid.graph_file() before and after its GRPH section. */
static const uint8_t graph_head[64] = {0x89, 0x44, 0x43, 0x46, 0x0D, 0x0A, 0x1A, 0x0A, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x57, 0x1D, 0x12, 0x6F, 0x54, 0x41, 0x42, 0x4C, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x66, 0x63, 0x2E, 0x77, 0x01, 0x00, 0x02, 0x03, 0x04, 0x04, 0x66, 0x63, 0x2E, 0x62, 0x01, 0x00, 0x01, 0x03, 0x2C, 0x27, 0x8C, 0xB9};
static const uint8_t graph_tail[120] = {0x44, 0x41, 0x54, 0x41, 0x00, 0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3E, 0x00, 0x00, 0x80, 0x3E, 0x00, 0x00, 0xC0, 0x3E, 0x00, 0x00, 0x00, 0x3F, 0x00, 0x00, 0x20, 0x3F, 0x00, 0x00, 0x40, 0x3F, 0x00, 0x00, 0x60, 0x3F, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x90, 0x3F, 0x00, 0x00, 0xA0, 0x3F, 0x00, 0x00, 0xB0, 0x3F, 0x5A, 0x4F, 0x3E, 0xDB, 0x00, 0x00, 0x00, 0x00, 0x44, 0x41, 0x54, 0x41, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3F, 0x00, 0x00, 0x00, 0xBF, 0x00, 0x00, 0x80, 0x3E, 0xD9, 0xF6, 0x29, 0x08};

static void as_graph(const uint8_t *json, size_t n) {
    size_t body = (16 + n + 4 + 7) & ~(size_t)7, size = sizeof graph_head + body + sizeof graph_tail;
    uint8_t *d = (uint8_t *)calloc(size, 1);
    if (!d) return;
    memcpy(d, graph_head, sizeof graph_head);
    memcpy(d + sizeof graph_head, "GRPH", 4);
    put32(d + sizeof graph_head + 8, (uint32_t)n);
    memcpy(d + sizeof graph_head + 16, json, n);
    memcpy(d + sizeof graph_head + body, graph_tail, sizeof graph_tail);
    fix_crcs(d, size);
    one(d, size);
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy;
    if (size && data[0] == '{' && size < ((size_t)1 << 24)) as_graph(data, size);
    one(data, size);
    if (size < 24) return 0;
    copy = (uint8_t *)malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    fix_crcs(copy, size);
    one(copy, size);
    free(copy);
    return 0;
}

static void one(const uint8_t *data, size_t size) {
    dcf_limits limits;
    dcf_file *f = NULL;
    dcf_error err;
    size_t i;
    dcf_default_limits(&limits);
    limits.max_tensor_elements = (uint64_t)1 << 14;
    limits.max_tensor_bytes = (uint64_t)1 << 17;
    limits.max_total_bytes = (uint64_t)1 << 19;
    if (dcf_open_memory(&f, data, size, &limits, NULL, &err) != DCF_OK) {
        if (err.code == DCF_OK || err.message[0] == 0) abort(); /* every failure carries a message */
        return;
    }
    for (i = 0; i < dcf_tensor_count(f); i++) {
        const dcf_tensor_info *t = dcf_tensor(f, i);
        size_t nb = t->nbytes ? (size_t)t->nbytes : 1;
        void *buf = malloc(nb), *buf2 = malloc(nb);
        dcf_status dense, dense2, sparse = DCF_OK;
        second_thread th;
        dcf_threads two = {start_second, join_second, NULL, NULL};
        dcf_error err2;
        if (!buf || !buf2) { free(buf); free(buf2); break; }
        two.self = &th;
        dense = dcf_decode_dense(f, i, buf, (size_t)t->nbytes, &err);
        dense2 = dcf_decode_dense_threads(f, i, buf2, (size_t)t->nbytes, &two, &err2);
        if (dense2 != dense || strcmp(err.message, err2.message) ||
            (dense == DCF_OK && t->nbytes && memcmp(buf, buf2, (size_t)t->nbytes)))
            abort(); /* two threads: the one-thread decode's status, message and bytes */
        if (t->encoding == DCF_SPARSE) { /* the payload entry point on a zeroed output: with a second thread that
                                          * populates its pages, the one-thread result */
            uint32_t flags = size >= 16 ? (uint32_t)data[12] | (uint32_t)data[13] << 8 | (uint32_t)data[14] << 16 | (uint32_t)data[15] << 24 : 0;
            const uint8_t *p = data + t->payload_offset;
            void *z = calloc(nb, 1), *z2 = calloc(nb, 1);
            dcf_threads pop = {start_second, join_second, NULL, populate_check};
            pop.self = &th;
            if (z && z2) {
                pop_base = (const uint8_t *)z2; pop_size = (size_t)t->nbytes; pop_row_bytes = (size_t)t->cols * dcf_dtype_size(t->dtype);
                dcf_status pd = dcf_decode_payload_dense(p, (size_t)t->payload_len, t->name, t->dtype, t->encoding, t->ndim, t->shape, flags, &limits, z, (size_t)t->nbytes, 1, &err);
                dcf_status pd2 = dcf_decode_payload_dense_threads(p, (size_t)t->payload_len, t->name, t->dtype, t->encoding, t->ndim, t->shape, flags, &limits, z2, (size_t)t->nbytes, 1, &pop, &err2);
                if (pd2 != pd || strcmp(err.message, err2.message) ||
                    (pd == DCF_OK && t->nbytes && memcmp(z, z2, (size_t)t->nbytes)))
                    abort();
            }
            free(z);
            free(z2);
        }
        free(buf);
        free(buf2);
        if (t->encoding != DCF_RAW) {
            dcf_csr csr;
            sparse = dcf_decode_csr(f, i, &csr, &err);
            if (sparse == DCF_OK) {
                uint64_t r;
                /* CSR invariants the API promises */
                if (csr.indptr[0] != 0 || csr.indptr[csr.rows] != csr.nnz) abort();
                for (r = 0; r < csr.rows; r++)
                    if (csr.indptr[r] > csr.indptr[r + 1]) abort();
                for (r = 0; r < csr.nnz; r++)
                    if (csr.indices[r] >= csr.cols || csr.codes[r] >= csr.codebook_size) abort();
                dcf_csr_free(f, &csr);
            }
            /* dense and CSR decoding read the same payload: they accept the same tensors */
            if ((dense == DCF_OK) != (sparse == DCF_OK)) abort();
        }
    }
    dcf_close(f);
}

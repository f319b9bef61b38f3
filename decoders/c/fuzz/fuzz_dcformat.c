/* libFuzzer target for dcformat.h: open, list, decode every tensor dense and as CSR.
 *
 * Each input runs twice: as it is, and with its header and section CRCs recomputed, so that mutations reach the
 * table and payload parsers instead of stopping at a checksum mismatch (the decoder itself is not changed).
 *
 * Build and run: see decoders/c/README.md ("Fuzzing"). Limits are lowered so that a fuzzed shape cannot ask for
 * more than 128 KiB per tensor (large sizes exercise no other
 * code than small ones, and they slow the run down); any crash, sanitizer report, leak or timeout is a finding.
 */
#define DCFORMAT_IMPLEMENTATION
#include "../dcformat.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy;
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
        void *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
        dcf_status dense, sparse = DCF_OK;
        if (!buf) break;
        dense = dcf_decode_dense(f, i, buf, (size_t)t->nbytes, &err);
        free(buf);
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

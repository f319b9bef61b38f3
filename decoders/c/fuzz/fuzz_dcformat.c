/* libFuzzer target for dcformat.h: open, list, decode every tensor dense and as CSR.
 *
 * Build and run: see decoders/c/README.md ("Fuzzing"). Limits are lowered so that a fuzzed shape cannot ask for
 * more than 64 MiB per tensor; any crash, sanitizer report, leak or timeout is a finding.
 */
#define DCFORMAT_IMPLEMENTATION
#include "../dcformat.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dcf_limits limits;
    dcf_file *f = NULL;
    dcf_error err;
    size_t i;
    dcf_default_limits(&limits);
    limits.max_tensor_elements = (uint64_t)1 << 24;
    limits.max_tensor_bytes = (uint64_t)64 << 20;
    limits.max_total_bytes = (uint64_t)256 << 20;
    if (dcf_open_memory(&f, data, size, &limits, NULL, &err) != DCF_OK) {
        if (err.code == DCF_OK || err.message[0] == 0) abort(); /* every failure carries a message */
        return 0;
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
    return 0;
}

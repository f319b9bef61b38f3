/* API-level checks of dcformat.h that the file-driven driver cannot make: caller allocators (a counting one, one that
 * fails), lowered limits, the file convenience, lookup by name, and misuse. Usage: dcf_api_test SPARSE.dcf RAW.dcf
 * (spec/vectors/v-sparse-row-classes.dcf and v-raw-dtypes.dcf). Prints "ok N" and exits 0, or names the failed check.
 */
#define DCFORMAT_IMPLEMENTATION
#include "../dcformat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int checks = 0;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        checks++;                                                                    \
        if (!(cond)) { fprintf(stderr, "line %d: %s\n", __LINE__, #cond); return 1; } \
    } while (0)

typedef struct { size_t live, peak, calls, fail_after; } counter;
static void *count_alloc(void *user, size_t size) {
    counter *c = (counter *)user;
    size_t *p;
    if (c->calls++ >= c->fail_after) return NULL;
    p = (size_t *)malloc(size + sizeof(size_t) * 2);
    if (!p) return NULL;
    p[0] = size;
    c->live += size;
    if (c->live > c->peak) c->peak = c->live;
    return p + 2;
}
static void count_free(void *user, void *ptr) {
    counter *c = (counter *)user;
    size_t *p = (size_t *)ptr - 2;
    c->live -= p[0];
    free(p);
}

int main(int argc, char **argv) {
    dcf_file *f = NULL;
    dcf_error err;
    dcf_limits lim;
    counter cnt;
    dcf_allocator a;
    dcf_csr csr;
    size_t i, calls_needed;
    const dcf_tensor_info *t;
    float *buf;
    uint64_t numel, nbytes;
    char name[64];
    if (argc != 3) return 2;
    /* a counting allocator sees every byte, and everything is given back */
    memset(&cnt, 0, sizeof cnt);
    cnt.fail_after = (size_t)-1;
    a.alloc = count_alloc; a.free = count_free; a.user = &cnt;
    CHECK(dcf_open_path(&f, argv[1], NULL, &a, &err) == DCF_OK);
    CHECK(dcf_tensor_count(f) >= 1);
    t = dcf_tensor(f, 0);
    CHECK(dcf_find(f, t->name) == 0);
    CHECK(dcf_find(f, "no such tensor") == -1);
    CHECK(dcf_tensor(f, dcf_tensor_count(f)) == NULL);
    buf = (float *)malloc((size_t)t->nbytes + 1);
    CHECK(dcf_decode_dense(f, 0, buf, (size_t)t->nbytes - 1, &err) == DCF_E_ARGUMENT); /* buffer too small */
    CHECK(dcf_decode_dense(f, dcf_tensor_count(f), buf, (size_t)t->nbytes, &err) == DCF_E_ARGUMENT);
    CHECK(dcf_decode_dense(f, 0, buf, (size_t)t->nbytes, &err) == DCF_OK && err.code == DCF_OK);
    CHECK(dcf_decode_csr(f, 0, &csr, &err) == DCF_OK);
    CHECK(csr.indptr[csr.rows] == csr.nnz && csr.rows == t->rows && csr.cols == t->cols);
    for (i = 0; i < csr.nnz; i++) CHECK(csr.indices[i] < csr.cols && csr.codes[i] < csr.codebook_size);
    dcf_csr_free(f, &csr);
    CHECK(dcf_verify(f, &err) == DCF_OK);
    numel = t->numel;
    nbytes = t->nbytes;
    snprintf(name, sizeof name, "%s", t->name);
    dcf_close(f); /* t is gone with f */
    CHECK(cnt.live == 0 && cnt.peak > 0);
    /* an allocator that fails at every possible call: always DCF_E_LIMIT (never a crash), nothing leaks */
    calls_needed = cnt.calls;
    for (i = 0; i < calls_needed; i++) {
        dcf_status s;
        memset(&cnt, 0, sizeof cnt);
        cnt.fail_after = i;
        s = dcf_open_path(&f, argv[1], NULL, &a, &err);
        if (s == DCF_OK) {
            s = dcf_verify(f, &err);
            if (s == DCF_OK) { s = dcf_decode_csr(f, 0, &csr, &err); if (s == DCF_OK) dcf_csr_free(f, &csr); }
            dcf_close(f);
        }
        CHECK(s == DCF_E_LIMIT || s == DCF_OK);
        CHECK(cnt.live == 0);
    }
    /* lowered limits turn a valid file into DCF_E_LIMIT, each at the field that exceeds it */
    dcf_default_limits(&lim);
    lim.max_tensor_elements = numel - 1;
    CHECK(dcf_open_path(&f, argv[1], &lim, NULL, &err) == DCF_E_LIMIT && strcmp(err.field, "shape") == 0);
    CHECK(strstr(err.message, name) != NULL);
    dcf_default_limits(&lim);
    lim.max_tensor_bytes = nbytes - 1;
    CHECK(dcf_open_path(&f, argv[1], &lim, NULL, &err) == DCF_E_LIMIT);
    dcf_default_limits(&lim);
    lim.max_file_bytes = 100;
    CHECK(dcf_open_path(&f, argv[1], &lim, NULL, &err) == DCF_E_LIMIT);
    dcf_default_limits(&lim);
    lim.max_sections = 1;
    CHECK(dcf_open_path(&f, argv[1], &lim, NULL, &err) == DCF_E_LIMIT && strcmp(err.field, "section_count") == 0);
    /* RAW tensors have no CSR; missing files are DCF_E_IO */
    CHECK(dcf_open_path(&f, argv[2], NULL, NULL, &err) == DCF_OK);
    CHECK(dcf_tensor(f, 0)->encoding == DCF_RAW && dcf_decode_csr(f, 0, &csr, &err) == DCF_E_ARGUMENT);
    dcf_close(f);
    CHECK(dcf_open_path(&f, "/nonexistent/x.dcf", NULL, NULL, &err) == DCF_E_IO && f == NULL);
    CHECK(dcf_open_memory(&f, "", 0, NULL, NULL, &err) == DCF_E_TRUNCATED && f == NULL);
    CHECK(strcmp(dcf_status_name(DCF_E_HUFFMAN_TABLE), "HuffmanTable") == 0);
    free(buf);
    printf("ok %d\n", checks);
    return 0;
}

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

/* dcf_threads without threads: "start" runs fn at once (then join has nothing to wait for), or starts nothing
 * (then the decoder runs the work itself); either way the split work (two row ranges, two streams) is exercised. */
static int runs = 0, split_streams = 0;
static int start_now(void *self, void (*fn)(void *), void *arg) { (void)self; runs++; fn(arg); return 1; }
static int start_never(void *self, void (*fn)(void *), void *arg) { (void)self; (void)fn; (void)arg; return 0; }
static void join_none(void *self) { (void)self; }
/* dcf_threads.populate that records which rows it was given (whole rows inside the output, or pop_bad) */
static const char *pop_base;
static size_t pop_size, pop_row_bytes, pop_calls, pop_bad;
static unsigned char pop_rows[1 << 16];
static void populate_record(void *self, void *addr, size_t len) {
    const char *a = (const char *)addr;
    size_t r;
    (void)self;
    pop_calls++;
    if (a < pop_base || len == 0 || len > pop_size - (size_t)(a - pop_base) || (size_t)(a - pop_base) % pop_row_bytes
        || len % pop_row_bytes || (a - pop_base) / pop_row_bytes + len / pop_row_bytes > sizeof pop_rows) {
        pop_bad++;
        return;
    }
    for (r = (size_t)(a - pop_base) / pop_row_bytes; r < (size_t)(a - pop_base + len) / pop_row_bytes; r++) pop_rows[r]++;
}

int main(int argc, char **argv) {
    dcf_file *f = NULL;
    dcf_error err;
    dcf_limits lim;
    counter cnt;
    dcf_allocator a;
    dcf_csr csr;
    size_t i, calls_needed;
    int k;
    const dcf_tensor_info *t;
    float *buf;
    uint64_t numel, nbytes;
    char name[64];
    if (argc < 3) return 2;
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
    { /* dcf_decode_dense_threads: the same bytes (this SPARSE float32 tensor with HUFFMAN streams: its rows split) */
        dcf_threads now = {start_now, join_none, NULL, NULL}, never = {start_never, join_none, NULL, NULL};
        float *two = (float *)malloc((size_t)t->nbytes + 1);
        CHECK(two != NULL && t->encoding == DCF_SPARSE && t->dtype == DCF_FLOAT32 && t->rows >= 2);
        memset(two, 0xA5, (size_t)t->nbytes);
        CHECK(dcf_decode_dense_threads(f, 0, two, (size_t)t->nbytes, &now, &err) == DCF_OK && runs == 1);
        CHECK(memcmp(buf, two, (size_t)t->nbytes) == 0);
        memset(two, 0xA5, (size_t)t->nbytes);
        CHECK(dcf_decode_dense_threads(f, 0, two, (size_t)t->nbytes, &never, &err) == DCF_OK);
        CHECK(memcmp(buf, two, (size_t)t->nbytes) == 0);
        CHECK(dcf_decode_dense_threads(f, 0, two, (size_t)t->nbytes - 1, &now, &err) == DCF_E_ARGUMENT);
        free(two);
    }
    { /* the payload entry point on a zeroed output with a populate hook: the same bytes, and the hook is given
       * exactly the rows with >= 1 entry per 1024 columns (counted from the CSR decode), each once, as whole rows */
        dcf_threads pop = {start_now, join_none, NULL, populate_record};
        static uint8_t file[1 << 22];
        FILE *fp = fopen(argv[1], "rb");
        size_t len = fp ? fread(file, 1, sizeof file, fp) : 0;
        uint64_t r, need = t->cols / 1024 + (t->cols % 1024 != 0), qualifying = 0;
        float *z = (float *)calloc((size_t)t->nbytes + 1, 1);
        if (fp) fclose(fp);
        CHECK(z && len > t->payload_offset + t->payload_len && len < sizeof file && t->rows <= sizeof pop_rows);
        pop_base = (const char *)z; pop_size = (size_t)t->nbytes; pop_row_bytes = (size_t)t->cols * 4;
        CHECK(dcf_decode_payload_dense_threads(file + t->payload_offset, (size_t)t->payload_len, t->name, t->dtype,
                                               t->encoding, t->ndim, t->shape, 0, NULL, z, (size_t)t->nbytes, 1, &pop,
                                               &err) == DCF_OK);
        CHECK(memcmp(buf, z, (size_t)t->nbytes) == 0 && pop_calls > 0 && pop_bad == 0);
        CHECK(dcf_decode_csr(f, 0, &csr, &err) == DCF_OK);
        for (r = 0; r < t->rows; r++) {
            uint64_t n = csr.indptr[r + 1] - csr.indptr[r];
            int want = n > 0 && n >= need;
            qualifying += (uint64_t)want;
            CHECK(pop_rows[r] == (unsigned char)want);
        }
        CHECK(qualifying > 0);
        dcf_csr_free(f, &csr);
        pop_calls = 0; /* not populated: without out_is_zero (the decoder zeroes the output itself) or without threads */
        memset(z, 0xA5, (size_t)t->nbytes);
        CHECK(dcf_decode_payload_dense_threads(file + t->payload_offset, (size_t)t->payload_len, t->name, t->dtype,
                                               t->encoding, t->ndim, t->shape, 0, NULL, z, (size_t)t->nbytes, 0, &pop,
                                               &err) == DCF_OK);
        CHECK(memcmp(buf, z, (size_t)t->nbytes) == 0 && pop_calls == 0);
        free(z);
    }
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
    CHECK(strcmp(dcf_status_name(DCF_E_RANS_TABLE), "RansTable") == 0);
    /* format 1.1 files (argv[3..]): allocation failures in the RANS tables and slot tables are DCF_E_LIMIT, nothing
     * leaks; the payload entry point needs the file's flag bit 0 for a RANS stream and then decodes as the file API */
    for (k = 3; k < argc; k++) {
        const dcf_tensor_info *ti;
        void *ref, *got;
        size_t ti_i;
        memset(&cnt, 0, sizeof cnt);
        cnt.fail_after = (size_t)-1;
        CHECK(dcf_open_path(&f, argv[k], NULL, &a, &err) == DCF_OK && dcf_verify(f, &err) == DCF_OK);
        dcf_close(f);
        calls_needed = cnt.calls;
        for (i = 0; i < calls_needed; i++) {
            dcf_status s;
            memset(&cnt, 0, sizeof cnt);
            cnt.fail_after = i;
            s = dcf_open_path(&f, argv[k], NULL, &a, &err);
            if (s == DCF_OK) { s = dcf_verify(f, &err); dcf_close(f); }
            CHECK(s == DCF_E_LIMIT || s == DCF_OK);
            CHECK(cnt.live == 0);
        }
        size_t refused = 0;
        dcf_threads now = {start_now, join_none, NULL, NULL};
        CHECK(dcf_open_path(&f, argv[k], NULL, NULL, &err) == DCF_OK);
        for (ti_i = 0; ti_i < dcf_tensor_count(f); ti_i++) {
            const uint8_t *base;
            dcf_status s0;
            FILE *fp = fopen(argv[k], "rb");
            static uint8_t file[1 << 20];
            size_t len = fp ? fread(file, 1, sizeof file, fp) : 0;
            if (fp) fclose(fp);
            ti = dcf_tensor(f, ti_i);
            base = file + ti->payload_offset;
            ref = malloc((size_t)ti->nbytes + 1);
            got = calloc((size_t)ti->nbytes + 1, 1);
            CHECK(ref && got && len > ti->payload_offset);
            CHECK(dcf_decode_dense(f, ti_i, ref, (size_t)ti->nbytes, &err) == DCF_OK);
            { /* with a second thread: the same bytes; SPARSE float32 with RANS streams also splits its streams */
                int before = runs;
                CHECK(dcf_decode_dense_threads(f, ti_i, got, (size_t)ti->nbytes, &now, &err) == DCF_OK);
                CHECK(memcmp(ref, got, (size_t)ti->nbytes) == 0);
                split_streams += runs - before == 2;
            }
            s0 = dcf_decode_payload_dense(base, (size_t)ti->payload_len, ti->name, ti->dtype, ti->encoding, ti->ndim,
                                          ti->shape, 0, NULL, got, (size_t)ti->nbytes, 1, &err);
            CHECK(s0 == DCF_OK || (s0 == DCF_E_UNSUPPORTED_FEATURE && strstr(err.field, ".coding") != NULL));
            refused += s0 != DCF_OK;
            memset(got, 0, (size_t)ti->nbytes);
            CHECK(dcf_decode_payload_dense(base, (size_t)ti->payload_len, ti->name, ti->dtype, ti->encoding, ti->ndim,
                                           ti->shape, 1, NULL, got, (size_t)ti->nbytes, 1, &err) == DCF_OK);
            CHECK(memcmp(ref, got, (size_t)ti->nbytes) == 0);
            free(ref);
            free(got);
        }
        CHECK(refused > 0); /* every 1.1 vector holds a RANS stream */
        dcf_close(f);
    }
    CHECK(argc <= 3 || split_streams > 0); /* some 1.1 vector had its gap and value streams on two "threads" */
    free(buf);
    printf("ok %d\n", checks);
    return 0;
}

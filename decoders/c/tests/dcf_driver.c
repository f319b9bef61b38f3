/* Conformance driver for dcformat.h, run by tests/test_c_decoder.py.
 *
 *   dcf_driver check FILE...          one JSON line per file: status, error context, tensor list
 *   dcf_driver dump OUTDIR FILE...    also writes every tensor's dense bytes and CSR arrays to OUTDIR
 *   dcf_driver check -                files from stdin, each as an 8-byte little-endian length + its bytes
 *
 * Every file goes through dcf_open_memory, then dcf_decode_dense for every tensor and dcf_decode_csr for every
 * quantized one; "status" is the first failure (open or dense), "csr_status" the first CSR failure.
 * dump writes OUTDIR/<file>_<tensor>.dense, .indptr (uint64), .indices (uint32), .codes (uint16), .codebook (f32).
 */
#define DCFORMAT_IMPLEMENTATION
#include "../dcformat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static int write_file(const char *dir, size_t fi, size_t ti, const char *ext, const void *p, size_t n) {
    char path[4096];
    FILE *fp;
    snprintf(path, sizeof path, "%s/%zu_%zu.%s", dir, fi, ti, ext);
    fp = fopen(path, "wb");
    if (!fp) return 0;
    if (n && fwrite(p, 1, n, fp) != n) { fclose(fp); return 0; }
    return fclose(fp) == 0;
}

static void run(const unsigned char *data, size_t size, size_t fi, const char *dump) {
    dcf_file *f = NULL;
    dcf_error err, cerr;
    dcf_status s, cs = DCF_OK;
    size_t i;
    memset(&cerr, 0, sizeof cerr);
    s = dcf_open_memory(&f, data, size, NULL, NULL, &err);
    for (i = 0; s == DCF_OK && i < dcf_tensor_count(f); i++) {
        const dcf_tensor_info *t = dcf_tensor(f, i);
        void *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
        if (!buf) { s = DCF_E_LIMIT; snprintf(err.message, sizeof err.message, "driver: out of memory"); break; }
        s = dcf_decode_dense(f, i, buf, (size_t)t->nbytes, &err);
        if (s == DCF_OK && dump) write_file(dump, fi, i, "dense", buf, (size_t)t->nbytes);
        free(buf);
        if (t->encoding != DCF_RAW && cs == DCF_OK) {
            dcf_csr csr;
            cs = dcf_decode_csr(f, i, &csr, &cerr);
            if (cs == DCF_OK) {
                if (dump) {
                    write_file(dump, fi, i, "indptr", csr.indptr, (size_t)(csr.rows + 1) * 8);
                    write_file(dump, fi, i, "indices", csr.indices, (size_t)csr.nnz * 4);
                    write_file(dump, fi, i, "codes", csr.codes, (size_t)csr.nnz * 2);
                    write_file(dump, fi, i, "codebook", csr.codebook, (size_t)csr.codebook_size * 4);
                }
                dcf_csr_free(f, &csr);
            }
        }
    }
    printf("{\"index\":%zu,\"status\":", fi);
    json_str(dcf_status_name(s));
    if (s != DCF_OK) {
        printf(",\"tensor\":");
        json_str(err.tensor);
        printf(",\"field\":");
        json_str(err.field);
        if (err.has_offset) printf(",\"offset\":%llu", (unsigned long long)err.offset);
        printf(",\"message\":");
        json_str(err.message);
    }
    printf(",\"csr_status\":");
    json_str(dcf_status_name(cs));
    if (f) {
        size_t mlen, glen;
        dcf_metadata(f, &mlen);
        dcf_graph(f, &glen);
        printf(",\"meta_len\":%zu,\"graph_len\":%zu,\"tensors\":[", mlen, glen);
        for (i = 0; i < dcf_tensor_count(f); i++) {
            const dcf_tensor_info *t = dcf_tensor(f, i);
            uint32_t d;
            printf("%s{\"name\":", i ? "," : "");
            json_str(t->name);
            printf(",\"dtype\":%d,\"encoding\":%d,\"shape\":[", (int)t->dtype, (int)t->encoding);
            for (d = 0; d < t->ndim; d++) printf("%s%llu", d ? "," : "", (unsigned long long)t->shape[d]);
            printf("]}");
        }
        printf("]");
        dcf_close(f);
    }
    printf("}\n");
    fflush(stdout);
}

static unsigned char *read_all(FILE *fp, size_t *size) {
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = (unsigned char *)malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (n < cap) break;
        cap *= 2;
        buf = (unsigned char *)realloc(buf, cap);
    }
    *size = n;
    return buf;
}

int main(int argc, char **argv) {
    const char *dump = NULL;
    int first = 2, k;
    size_t fi = 0;
    if (argc < 3 || (strcmp(argv[1], "check") && strcmp(argv[1], "dump"))) {
        fprintf(stderr, "usage: %s check FILE... | dump OUTDIR FILE... | check -\n", argv[0]);
        return 2;
    }
    if (!strcmp(argv[1], "dump")) { dump = argv[2]; first = 3; }
    if (first < argc && !strcmp(argv[first], "-")) {
        for (;;) {
            unsigned char hdr[8], *buf;
            unsigned long long len = 0;
            int b;
            if (fread(hdr, 1, 8, stdin) != 8) break;
            for (b = 7; b >= 0; b--) len = len << 8 | hdr[b];
            buf = (unsigned char *)malloc(len ? (size_t)len : 1);
            if (!buf || fread(buf, 1, (size_t)len, stdin) != (size_t)len) { free(buf); return 3; }
            run(buf, (size_t)len, fi++, dump);
            free(buf);
        }
        return 0;
    }
    for (k = first; k < argc; k++) {
        FILE *fp = fopen(argv[k], "rb");
        size_t size;
        unsigned char *buf;
        if (!fp) { printf("{\"index\":%zu,\"status\":\"IO\"}\n", fi++); continue; }
        buf = read_all(fp, &size);
        fclose(fp);
        if (!buf) return 3;
        run(buf, size, fi++, dump);
        free(buf);
    }
    return 0;
}

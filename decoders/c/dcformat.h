/* dcformat.h - single-header C99 decoder for dcformat 1.x files (spec/FORMAT.md).
 *
 * Written from spec/FORMAT.md as a second-language implementation of the format. Depends on libc only;
 * zstd-compressed RAW tensors need -DDCFORMAT_WITH_ZSTD and -lzstd (otherwise they are reported as
 * DCF_E_ZSTD_UNSUPPORTED after their frame header has been validated).
 *
 *   #define DCFORMAT_IMPLEMENTATION   // in exactly one .c file
 *   #include "dcformat.h"
 *
 * Safety: every size read from a file is checked against the bytes present and the caller's limits before it is
 * used or allocated; every product and sum is overflow-checked; every malformed input returns an error code whose
 * message names the tensor, the field and the byte offset. Nothing is read outside the caller's buffer.
 * A dcf_file is read-only after dcf_open_*; decoding different tensors from several threads is safe.
 */
#ifndef DCFORMAT_H
#define DCFORMAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error classes: one per class of spec/FORMAT.md (in brackets there), plus API-level codes. */
typedef enum {
    DCF_OK = 0,
    DCF_E_BAD_MAGIC,           /* [BadMagic] */
    DCF_E_UNSUPPORTED_VERSION, /* [UnsupportedVersion] */
    DCF_E_UNSUPPORTED_FEATURE, /* [UnsupportedFeature] */
    DCF_E_TRUNCATED,           /* [Truncated] */
    DCF_E_TRAILING_DATA,       /* [TrailingData] */
    DCF_E_LAYOUT,              /* [Layout] */
    DCF_E_CHECKSUM,            /* [Checksum] */
    DCF_E_LIMIT,               /* [Limit] (also: the allocator returned NULL) */
    DCF_E_DECOMPRESSION,       /* [Decompression] */
    DCF_E_HUFFMAN_TABLE,       /* [HuffmanTable] */
    DCF_E_BITSTREAM,           /* [Bitstream] */
    DCF_E_SPARSE_INDEX,        /* [SparseIndex] */
    DCF_E_CODEBOOK,            /* [Codebook] */
    DCF_E_METADATA,            /* [Metadata]: names, dtype/encoding pairs, META size and JSON syntax */
    DCF_E_GRAPH,               /* [Graph]: GRPH size and JSON syntax (the graph schema is not checked here) */
    DCF_E_ZSTD_UNSUPPORTED,    /* a valid-looking zstd RAW tensor, but built without DCFORMAT_WITH_ZSTD */
    DCF_E_ARGUMENT,            /* API misuse: bad index, output buffer too small, RAW tensor asked for CSR */
    DCF_E_IO                   /* dcf_open_path: the file could not be read */
} dcf_status;

typedef enum {
    DCF_FLOAT32 = 1, DCF_FLOAT16 = 2, DCF_FLOAT64 = 3, DCF_INT8 = 4, DCF_INT16 = 5, DCF_INT32 = 6, DCF_INT64 = 7,
    DCF_UINT8 = 8, DCF_UINT16 = 9, DCF_UINT32 = 10, DCF_UINT64 = 11, DCF_BOOL = 12
} dcf_dtype;

typedef enum { DCF_RAW = 0, DCF_DENSE = 1, DCF_SPARSE = 2 } dcf_encoding;

typedef struct {
    dcf_status code;
    uint64_t offset;      /* file byte offset of the offending field (valid when has_offset) */
    int has_offset;
    char tensor[64];      /* tensor name (truncated), "" when not about a tensor */
    char field[48];       /* e.g. "header_crc", "values.data", "gaps[2].lengths" */
    char message[512];    /* full human-readable message */
} dcf_error;

/* Limits enforced before anything is allocated (spec §9). dcf_default_limits gives the reference defaults. */
typedef struct {
    uint64_t max_file_bytes;       /* 2^40 */
    uint64_t max_sections;         /* 2^20 */
    uint64_t max_tensors;          /* 2^20 */
    uint64_t max_tensor_elements;  /* 2^32 */
    uint64_t max_tensor_bytes;     /* 2^34: decoded bytes of one tensor */
    uint64_t max_total_bytes;      /* 2^36: decoded bytes of all tensors of a file */
    uint64_t max_metadata_bytes;   /* 16 MiB (violations are DCF_E_METADATA, §7) */
    uint64_t max_graph_bytes;      /* 16 MiB (violations are DCF_E_GRAPH, §9) */
    uint32_t max_json_depth;       /* 64 (META); GRPH uses min(8, this) */
    uint64_t max_zstd_ratio;       /* 1024 */
    uint64_t max_zstd_window;      /* 2^27 */
} dcf_limits;

/* Caller-supplied allocator; NULL means malloc/free. A NULL return is reported as DCF_E_LIMIT. */
typedef struct {
    void *(*alloc)(void *user, size_t size);
    void (*free)(void *user, void *ptr);
    void *user;
} dcf_allocator;

typedef struct {
    const char *name;       /* NUL-terminated UTF-8 (names cannot contain NUL) */
    size_t name_len;
    dcf_dtype dtype;
    dcf_encoding encoding;
    uint32_t ndim;          /* 0..8 */
    uint64_t shape[8];
    uint64_t numel;         /* product of shape (1 for ndim 0) */
    uint64_t rows, cols;    /* the matrix view of §4.3 */
    uint64_t nbytes;        /* dense size: numel * itemsize */
    uint64_t payload_offset, payload_len; /* the DATA payload in the file */
} dcf_tensor_info;

/* CSR of a quantized tensor, without its dense array: entry j of row r (indptr[r] <= j < indptr[r+1]) is at column
 * indices[j] with value codebook[codes[j]] (float32 as stored; convert to the tensor's dtype as needed). */
typedef struct {
    uint64_t rows, cols, nnz;
    uint64_t *indptr;       /* rows + 1 */
    uint32_t *indices;      /* nnz (cols < 2^32 by §5.3) */
    uint16_t *codes;        /* nnz (K <= 2^16) */
    float *codebook;        /* codebook_size */
    uint32_t codebook_size;
    dcf_dtype dtype;
} dcf_csr;

typedef struct dcf_file dcf_file;

void dcf_default_limits(dcf_limits *limits);
size_t dcf_dtype_size(dcf_dtype dtype);
const char *dcf_status_name(dcf_status code); /* "BadMagic", "Truncated", ... (the spec's class names) */

/* Parse and validate the container: preamble, every section's framing and CRC, the tensor table, META/GRPH sizes and
 * JSON syntax, shape and size limits. `data` must stay alive and unchanged until dcf_close. limits/alloc/err may be
 * NULL. Tensor payloads are validated when decoded (dcf_decode_*, dcf_verify). */
dcf_status dcf_open_memory(dcf_file **out, const void *data, size_t size, const dcf_limits *limits,
                           const dcf_allocator *alloc, dcf_error *err);
/* Same, reading the whole file into memory obtained from the allocator. */
dcf_status dcf_open_path(dcf_file **out, const char *path, const dcf_limits *limits, const dcf_allocator *alloc,
                         dcf_error *err);
void dcf_close(dcf_file *file);

size_t dcf_tensor_count(const dcf_file *file);
const dcf_tensor_info *dcf_tensor(const dcf_file *file, size_t index); /* NULL if out of range */
/* Index of the tensor named `name` (NUL-terminated), or -1. */
long dcf_find(const dcf_file *file, const char *name);
/* Raw META / GRPH payloads (UTF-8 JSON, CRC-verified, syntax-checked); NULL and 0 when absent. */
const uint8_t *dcf_metadata(const dcf_file *file, size_t *len);
const uint8_t *dcf_graph(const dcf_file *file, size_t *len);

/* Decode tensor `index` into `out` (`out_size` >= info->nbytes bytes): native-endian elements of its dtype, C order. */
dcf_status dcf_decode_dense(const dcf_file *file, size_t index, void *out, size_t out_size, dcf_error *err);
/* CSR of a DENSE or SPARSE tensor seen as rows x cols (SPARSE: straight from the streams, never numel elements;
 * DENSE: the elements whose value is not zero). Arrays come from the file's allocator; free with dcf_csr_free. */
dcf_status dcf_decode_csr(const dcf_file *file, size_t index, dcf_csr *out, dcf_error *err);
void dcf_csr_free(const dcf_file *file, dcf_csr *csr);
/* Decode every tensor (one at a time, freed again): the whole file is valid iff this returns DCF_OK. */
dcf_status dcf_verify(const dcf_file *file, dcf_error *err);

#ifdef __cplusplus
}
#endif
#endif /* DCFORMAT_H */

/* ============================================================================================================== */
#ifdef DCFORMAT_IMPLEMENTATION
#ifndef DCFORMAT_IMPLEMENTATION_DONE
#define DCFORMAT_IMPLEMENTATION_DONE

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef DCFORMAT_WITH_ZSTD
#include <zstd.h>
#endif

#define DCF_MAX_CODE_LEN 24
#define DCF_LUT_BITS 11
#define DCF_U64_MAX (~(uint64_t)0)

struct dcf_file {
    const uint8_t *data;
    size_t size;
    uint8_t *owned;            /* dcf_open_path's buffer */
    dcf_limits limits;
    dcf_allocator alloc;
    size_t count;
    dcf_tensor_info *tensors;
    char *names;               /* all names, NUL-separated */
    const uint8_t *meta, *graph;
    size_t meta_len, graph_len;
    uint32_t crc_table[8][256];
};

/* ---- small helpers ------------------------------------------------------------------------------------------- */

static void *dcf__malloc(void *user, size_t size) { (void)user; return malloc(size ? size : 1); }
static void dcf__free(void *user, void *ptr) { (void)user; free(ptr); }

static int dcf__mul(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > DCF_U64_MAX / a) return 0;
    *out = a * b;
    return 1;
}
static int dcf__add(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > DCF_U64_MAX - a) return 0;
    *out = a + b;
    return 1;
}

size_t dcf_dtype_size(dcf_dtype dtype) {
    static const unsigned char sizes[13] = {0, 4, 2, 8, 1, 2, 4, 8, 1, 2, 4, 8, 1};
    return ((unsigned)dtype >= 1 && (unsigned)dtype <= 12) ? sizes[dtype] : 0;
}

const char *dcf_status_name(dcf_status code) {
    static const char *const names[] = {"OK", "BadMagic", "UnsupportedVersion", "UnsupportedFeature", "Truncated",
                                        "TrailingData", "Layout", "Checksum", "Limit", "Decompression",
                                        "HuffmanTable", "Bitstream", "SparseIndex", "Codebook", "Metadata", "Graph",
                                        "ZstdUnsupported", "Argument", "IO"};
    return ((unsigned)code < sizeof names / sizeof names[0]) ? names[code] : "Unknown";
}

void dcf_default_limits(dcf_limits *l) {
    l->max_file_bytes = (uint64_t)1 << 40;
    l->max_sections = (uint64_t)1 << 20;
    l->max_tensors = (uint64_t)1 << 20;
    l->max_tensor_elements = (uint64_t)1 << 32;
    l->max_tensor_bytes = (uint64_t)1 << 34;
    l->max_total_bytes = (uint64_t)1 << 36;
    l->max_metadata_bytes = (uint64_t)16 << 20;
    l->max_graph_bytes = (uint64_t)16 << 20;
    l->max_json_depth = 64;
    l->max_zstd_ratio = 1024;
    l->max_zstd_window = (uint64_t)1 << 27;
}

/* Record an error (only the first one: callers return right after). */
static dcf_status dcf__fail(dcf_error *err, dcf_status code, const char *tensor, const char *field, int has_offset,
                            uint64_t offset, const char *fmt, ...) {
    if (err) {
        char detail[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
        err->code = code;
        err->offset = offset;
        err->has_offset = has_offset;
        snprintf(err->tensor, sizeof err->tensor, "%s", tensor ? tensor : "");
        snprintf(err->field, sizeof err->field, "%s", field ? field : "");
        if (has_offset)
            snprintf(err->message, sizeof err->message, "%s error%s%s%s, field '%s', byte %llu: %s",
                     dcf_status_name(code), tensor ? " in tensor '" : "", tensor ? err->tensor : "", tensor ? "'" : "",
                     err->field, (unsigned long long)offset, detail);
        else
            snprintf(err->message, sizeof err->message, "%s error%s%s%s, field '%s': %s", dcf_status_name(code),
                     tensor ? " in tensor '" : "", tensor ? err->tensor : "", tensor ? "'" : "", err->field, detail);
    }
    return code;
}

static void dcf__ok(dcf_error *err) {
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = DCF_OK;
    }
}

/* CRC-32 (ISO-HDLC, as zlib.crc32), slicing by 8. */
static void dcf__crc_init(uint32_t t[8][256]) {
    uint32_t i, k;
    for (i = 0; i < 256; i++) {
        uint32_t c = i;
        for (k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[0][i] = c;
    }
    for (i = 0; i < 256; i++)
        for (k = 1; k < 8; k++) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
}
static uint32_t dcf__crc(uint32_t t[8][256], const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n >= 8) {
        uint32_t a = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = t[7][a & 0xFF] ^ t[6][(a >> 8) & 0xFF] ^ t[5][(a >> 16) & 0xFF] ^ t[4][a >> 24] ^ t[3][p[4]] ^
            t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint32_t dcf__le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t dcf__le64(const uint8_t *p) { return (uint64_t)dcf__le32(p) | (uint64_t)dcf__le32(p + 4) << 32; }
static uint64_t dcf__be64(const uint8_t *p) {
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 | (uint64_t)p[3] << 32 |
           (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 | (uint64_t)p[6] << 8 | (uint64_t)p[7];
}
#if defined(__GNUC__) || defined(__clang__)
/* One unaligned load + bswap (the portable byte-by-byte form is the fallback); used only on little-endian hosts. */
static uint64_t dcf__be64_fast(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap64(v);
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return v;
#else
    return dcf__be64(p);
#endif
}
#define DCF__BE64(p) dcf__be64_fast(p)
#else
#define DCF__BE64(p) dcf__be64(p)
#endif
static int dcf__host_is_le(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ---- a bounded cursor over one region of the file -------------------------------------------------------------- */

typedef struct {
    const uint8_t *base; /* the whole file */
    uint64_t pos, end;   /* absolute offsets */
    const char *tensor;  /* NULL outside tensors */
    dcf_error *err;
} dcf__cur;

#define DCF__FAIL(c, code, field, at, ...) dcf__fail((c)->err, (code), (c)->tensor, (field), 1, (at), __VA_ARGS__)

static dcf_status dcf__need(dcf__cur *c, uint64_t n, const char *field) {
    if (n > c->end - c->pos)
        return DCF__FAIL(c, DCF_E_TRUNCATED, field, c->pos, "needs %llu bytes, %llu remain", (unsigned long long)n,
                         (unsigned long long)(c->end - c->pos));
    return DCF_OK;
}
static dcf_status dcf__u8(dcf__cur *c, const char *field, unsigned *v) {
    dcf_status s = dcf__need(c, 1, field);
    if (s) return s;
    *v = c->base[c->pos++];
    return DCF_OK;
}
/* Unsigned LEB128, minimal, at most 10 bytes, < 2^64 (§1). */
static dcf_status dcf__varint(dcf__cur *c, const char *field, uint64_t *v) {
    uint64_t at = c->pos, x = 0;
    unsigned i;
    for (i = 0;; i++) {
        unsigned b;
        if (c->pos >= c->end) return DCF__FAIL(c, DCF_E_TRUNCATED, field, at, "varint runs past the end");
        if (i == 10) return DCF__FAIL(c, DCF_E_LIMIT, field, at, "varint longer than 10 bytes");
        b = c->base[c->pos++];
        if (i == 9 && (b & 0x7F) > 1) return DCF__FAIL(c, DCF_E_LIMIT, field, at, "varint value >= 2^64");
        x |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0) return DCF__FAIL(c, DCF_E_LIMIT, field, at, "varint is not minimal");
            break;
        }
    }
    *v = x;
    return DCF_OK;
}

static void *dcf__alloc(const dcf_file *f, uint64_t n) {
    if (n > (uint64_t)(size_t)-1) return NULL;
    return f->alloc.alloc(f->alloc.user, (size_t)n);
}
/* n items of `size` bytes (+1 so that n = 0 still gives a pointer); NULL on overflow or failure. */
static void *dcf__alloc_n(const dcf_file *f, uint64_t n, uint64_t size) {
    uint64_t bytes;
    if (!dcf__mul(n, size, &bytes) || !dcf__add(bytes, 1, &bytes)) return NULL;
    return dcf__alloc(f, bytes);
}
static void dcf__release(const dcf_file *f, void *p) {
    if (p) f->alloc.free(f->alloc.user, p);
}

/* ---- strict JSON syntax check (META §7, GRAPH.md §2) ------------------------------------------------------------ */

typedef struct {
    const uint8_t *p;
    size_t n, i;
    uint32_t depth, max_depth;
    const dcf_file *f;
    int oom;
    const char *why;
} dcf__json;

static void dcf__json_ws(dcf__json *j) {
    while (j->i < j->n && (j->p[j->i] == ' ' || j->p[j->i] == '\t' || j->p[j->i] == '\n' || j->p[j->i] == '\r'))
        j->i++;
}
static int dcf__hex4(dcf__json *j, uint32_t *v) {
    unsigned k;
    *v = 0;
    if (j->n - j->i < 4) return 0;
    for (k = 0; k < 4; k++) {
        uint8_t ch = j->p[j->i++];
        uint32_t d;
        if (ch >= '0' && ch <= '9') d = ch - '0';
        else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F') d = ch - 'A' + 10;
        else return 0;
        *v = *v << 4 | d;
    }
    return 1;
}
/* Length of one valid UTF-8 sequence at p (no overlongs, surrogates or > U+10FFFF), 0 if invalid. */
static size_t dcf__utf8(const uint8_t *p, size_t n, uint32_t *cp) {
    uint32_t c;
    size_t len, k;
    if (n == 0) return 0;
    c = p[0];
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; c &= 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; c &= 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; c &= 0x07; }
    else return 0;
    if (n < len) return 0;
    for (k = 1; k < len; k++) {
        if ((p[k] & 0xC0) != 0x80) return 0;
        c = c << 6 | (p[k] & 0x3F);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}
/* A string; its raw (escaped) span is returned for duplicate-key comparison. */
static int dcf__json_string(dcf__json *j, size_t *start, size_t *stop) {
    j->i++; /* opening quote */
    *start = j->i;
    for (;;) {
        uint8_t ch;
        if (j->i >= j->n) { j->why = "unterminated string"; return 0; }
        ch = j->p[j->i];
        if (ch == '"') { *stop = j->i++; return 1; }
        if (ch < 0x20) { j->why = "control character in a string"; return 0; }
        if (ch == '\\') {
            uint8_t e;
            j->i++;
            if (j->i >= j->n) { j->why = "unterminated escape"; return 0; }
            e = j->p[j->i++];
            if (e == 'u') {
                uint32_t u, lo;
                if (!dcf__hex4(j, &u)) { j->why = "bad \\u escape"; return 0; }
                if (u >= 0xDC00 && u <= 0xDFFF) { j->why = "unpaired surrogate escape"; return 0; }
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (j->n - j->i < 6 || j->p[j->i] != '\\' || j->p[j->i + 1] != 'u') {
                        j->why = "unpaired surrogate escape";
                        return 0;
                    }
                    j->i += 2;
                    if (!dcf__hex4(j, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                        j->why = "unpaired surrogate escape";
                        return 0;
                    }
                }
            } else if (!strchr("\"\\/bfnrt", e) || e == 0) {
                j->why = "bad escape";
                return 0;
            }
        } else if (ch < 0x80) {
            j->i++;
        } else {
            uint32_t cp;
            size_t len = dcf__utf8(j->p + j->i, j->n - j->i, &cp);
            if (!len) { j->why = "invalid UTF-8"; return 0; }
            j->i += len;
        }
    }
}
/* Decode a string span to UTF-8 into buf (for key comparison); returns length. Spans are already validated. */
static size_t dcf__json_unescape(const uint8_t *p, size_t a, size_t b, uint8_t *out) {
    size_t n = 0;
    while (a < b) {
        uint8_t ch = p[a++];
        if (ch != '\\') { out[n++] = ch; continue; }
        ch = p[a++];
        if (ch == 'u') {
            uint32_t u = 0, k;
            for (k = 0; k < 4; k++) {
                uint8_t h = p[a++];
                u = u << 4 | (uint32_t)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
            }
            if (u >= 0xD800 && u <= 0xDBFF) {
                uint32_t lo = 0;
                a += 2;
                for (k = 0; k < 4; k++) {
                    uint8_t h = p[a++];
                    lo = lo << 4 | (uint32_t)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
                }
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (u < 0x80) out[n++] = (uint8_t)u;
            else if (u < 0x800) { out[n++] = (uint8_t)(0xC0 | u >> 6); out[n++] = (uint8_t)(0x80 | (u & 0x3F)); }
            else if (u < 0x10000) {
                out[n++] = (uint8_t)(0xE0 | u >> 12); out[n++] = (uint8_t)(0x80 | ((u >> 6) & 0x3F));
                out[n++] = (uint8_t)(0x80 | (u & 0x3F));
            } else {
                out[n++] = (uint8_t)(0xF0 | u >> 18); out[n++] = (uint8_t)(0x80 | ((u >> 12) & 0x3F));
                out[n++] = (uint8_t)(0x80 | ((u >> 6) & 0x3F)); out[n++] = (uint8_t)(0x80 | (u & 0x3F));
            }
        } else {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            out[n++] = (uint8_t)to[strchr(from, ch) - from];
        }
    }
    return n;
}
/* A number: JSON grammar, integers of at most 20 digits, finite as binary64. */
static int dcf__json_number(dcf__json *j) {
    size_t s = j->i, digits = 0;
    int is_int = 1;
    char buf[64];
    double v;
    if (j->p[j->i] == '-') j->i++;
    if (j->i >= j->n || j->p[j->i] < '0' || j->p[j->i] > '9') { j->why = "bad number"; return 0; }
    if (j->p[j->i] == '0') { j->i++; digits = 1; }
    else while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9') { j->i++; digits++; }
    if (j->i < j->n && j->p[j->i] == '.') {
        is_int = 0;
        j->i++;
        if (j->i >= j->n || j->p[j->i] < '0' || j->p[j->i] > '9') { j->why = "bad number"; return 0; }
        while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9') j->i++;
    }
    if (j->i < j->n && (j->p[j->i] == 'e' || j->p[j->i] == 'E')) {
        is_int = 0;
        j->i++;
        if (j->i < j->n && (j->p[j->i] == '+' || j->p[j->i] == '-')) j->i++;
        if (j->i >= j->n || j->p[j->i] < '0' || j->p[j->i] > '9') { j->why = "bad number"; return 0; }
        while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9') j->i++;
    }
    if (is_int) {
        if (digits > 20) { j->why = "integer literal of more than 20 digits"; return 0; }
        return 1;
    }
    /* Overflow check: strtod on a bounded copy (very long mantissas only change the last digits). */
    if (j->i - s < sizeof buf) {
        memcpy(buf, j->p + s, j->i - s);
        buf[j->i - s] = 0;
        v = strtod(buf, NULL);
        if (v > 1.7976931348623157e308 || v < -1.7976931348623157e308) { j->why = "number overflows binary64"; return 0; }
    } else {
        /* Long literal: estimate the decimal exponent (digits before the point + exponent). */
        size_t k = s;
        long e10 = 0, ex = 0;
        int neg = 0, seen_nonzero = 0;
        if (j->p[k] == '-') k++;
        while (k < j->i && j->p[k] >= '0' && j->p[k] <= '9') { if (j->p[k] != '0' || seen_nonzero) { seen_nonzero = 1; e10++; } k++; }
        if (k < j->i && j->p[k] == '.') { k++; while (k < j->i && j->p[k] >= '0' && j->p[k] <= '9') { if (!seen_nonzero) { if (j->p[k] != '0') seen_nonzero = 1; else e10--; } k++; } }
        if (k < j->i) {
            k++;
            if (j->p[k] == '-') { neg = 1; k++; } else if (j->p[k] == '+') k++;
            while (k < j->i) { if (ex < 100000) ex = ex * 10 + (j->p[k] - '0'); k++; }
        }
        if (seen_nonzero && e10 + (neg ? -ex : ex) > 309) { j->why = "number overflows binary64"; return 0; }
    }
    return 1;
}
static int dcf__json_value(dcf__json *j);
static int dcf__json_container(dcf__json *j) {
    uint8_t open = j->p[j->i++];
    size_t nkeys = 0, cap = 0;
    size_t *keys = NULL; /* pairs of (start, stop) spans */
    int ok = 0;
    if (++j->depth > j->max_depth) { j->why = "nesting too deep"; return 0; }
    dcf__json_ws(j);
    if (j->i < j->n && j->p[j->i] == (open == '{' ? '}' : ']')) { j->i++; j->depth--; return 1; }
    for (;;) {
        dcf__json_ws(j);
        if (j->i >= j->n) { j->why = "unterminated container"; goto done; }
        if (open == '{') {
            size_t a, b, k;
            if (j->p[j->i] != '"') { j->why = "object key is not a string"; goto done; }
            if (!dcf__json_string(j, &a, &b)) goto done;
            for (k = 0; k < nkeys; k++) { /* duplicate keys: compare unescaped forms */
                size_t a2 = keys[2 * k], b2 = keys[2 * k + 1];
                int same;
                if (b - a == b2 - a2 && memcmp(j->p + a, j->p + a2, b - a) == 0) same = 1;
                else if (memchr(j->p + a, '\\', b - a) || memchr(j->p + a2, '\\', b2 - a2)) {
                    uint8_t *x = (uint8_t *)dcf__alloc(j->f, (uint64_t)(b - a) + (b2 - a2) + 2);
                    size_t lx, ly;
                    if (!x) { j->oom = 1; goto done; }
                    lx = dcf__json_unescape(j->p, a, b, x);
                    ly = dcf__json_unescape(j->p, a2, b2, x + lx);
                    same = lx == ly && memcmp(x, x + lx, lx) == 0;
                    dcf__release(j->f, x);
                } else same = 0;
                if (same) { j->why = "duplicated key"; goto done; }
            }
            if (nkeys == cap) {
                size_t ncap = cap ? 2 * cap : 8, *nk;
                nk = (size_t *)dcf__alloc(j->f, (uint64_t)ncap * 2 * sizeof(size_t));
                if (!nk) { j->oom = 1; goto done; }
                if (keys) memcpy(nk, keys, nkeys * 2 * sizeof(size_t));
                dcf__release(j->f, keys);
                keys = nk;
                cap = ncap;
            }
            keys[2 * nkeys] = a;
            keys[2 * nkeys + 1] = b;
            nkeys++;
            dcf__json_ws(j);
            if (j->i >= j->n || j->p[j->i] != ':') { j->why = "missing ':'"; goto done; }
            j->i++;
        }
        if (!dcf__json_value(j)) goto done;
        dcf__json_ws(j);
        if (j->i >= j->n) { j->why = "unterminated container"; goto done; }
        if (j->p[j->i] == ',') { j->i++; continue; }
        if (j->p[j->i] == (open == '{' ? '}' : ']')) { j->i++; break; }
        j->why = "expected ',' or a closing bracket";
        goto done;
    }
    j->depth--;
    ok = 1;
done:
    dcf__release(j->f, keys);
    return ok;
}
/* Iterative depth is bounded by max_depth (<= the caller's limit), so recursion is bounded too. */
static int dcf__json_value(dcf__json *j) {
    uint8_t ch;
    dcf__json_ws(j);
    if (j->i >= j->n) { j->why = "missing value"; return 0; }
    ch = j->p[j->i];
    if (ch == '{' || ch == '[') return dcf__json_container(j);
    if (ch == '"') { size_t a, b; return dcf__json_string(j, &a, &b); }
    if (ch == '-' || (ch >= '0' && ch <= '9')) return dcf__json_number(j);
    if (j->n - j->i >= 4 && memcmp(j->p + j->i, "true", 4) == 0) { j->i += 4; return 1; }
    if (j->n - j->i >= 5 && memcmp(j->p + j->i, "false", 5) == 0) { j->i += 5; return 1; }
    if (j->n - j->i >= 4 && memcmp(j->p + j->i, "null", 4) == 0) { j->i += 4; return 1; }
    j->why = "not a JSON value (NaN, Infinity and single quotes are not JSON)";
    return 0;
}
/* 0 = valid object text; otherwise error message in *why (oom => DCF_E_LIMIT). */
static dcf_status dcf__json_check(const dcf_file *f, const uint8_t *p, size_t n, uint32_t max_depth, const char **why) {
    dcf__json j;
    memset(&j, 0, sizeof j);
    j.p = p; j.n = n; j.f = f; j.max_depth = max_depth < 512 ? max_depth : 512; /* bounds the recursion */
    if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) { *why = "leading byte-order mark"; return DCF_E_METADATA; }
    dcf__json_ws(&j);
    if (j.i >= n || p[j.i] != '{') { *why = "the top level is not an object"; return DCF_E_METADATA; }
    if (!dcf__json_value(&j)) { *why = j.why ? j.why : "out of memory"; return j.oom ? DCF_E_LIMIT : DCF_E_METADATA; }
    dcf__json_ws(&j);
    if (j.i != n) { *why = "bytes after the JSON text"; return DCF_E_METADATA; }
    return DCF_OK;
}

/* ---- container: preamble, sections, tensor table --------------------------------------------------------------- */

static const uint8_t dcf__signature[8] = {0x89, 0x44, 0x43, 0x46, 0x0D, 0x0A, 0x1A, 0x0A};

static uint64_t dcf__hash(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    while (n--) h = (h ^ *p++) * 1099511628211ull;
    return h;
}

static dcf_status dcf__table(dcf_file *f, uint64_t start, uint64_t len, dcf_error *err) {
    dcf__cur c;
    uint64_t count, i, total = 0;
    size_t names_bytes = 0, nslots;
    uint64_t *slots = NULL;
    dcf_status s;
    c.base = f->data; c.pos = start; c.end = start + len; c.tensor = NULL; c.err = err;
    if ((s = dcf__varint(&c, "TABL.tensor_count", &count))) return s;
    if (count > f->limits.max_tensors)
        return DCF__FAIL(&c, DCF_E_LIMIT, "TABL.tensor_count", start, "%llu tensors > limit %llu",
                         (unsigned long long)count, (unsigned long long)f->limits.max_tensors);
    if (count > (c.end - c.pos) / 5) /* every entry takes at least 5 bytes */
        return DCF__FAIL(&c, DCF_E_TRUNCATED, "TABL.tensor_count", start, "%llu tensors cannot fit in %llu bytes",
                         (unsigned long long)count, (unsigned long long)(c.end - c.pos));
    f->tensors = (dcf_tensor_info *)dcf__alloc(f, count * sizeof(dcf_tensor_info) + 1);
    f->names = (char *)dcf__alloc(f, len + 1); /* names + NULs fit in the payload (each entry has >= 4 other bytes) */
    nslots = (size_t)(count * 2 + 1);
    slots = (uint64_t *)dcf__alloc(f, (uint64_t)nslots * sizeof(uint64_t));
    if (!f->tensors || !f->names || !slots) {
        dcf__release(f, slots);
        return DCF__FAIL(&c, DCF_E_LIMIT, "TABL", start, "allocation failed");
    }
    memset(slots, 0, nslots * sizeof(uint64_t));
    memset(f->tensors, 0, (size_t)count * sizeof(dcf_tensor_info));
    f->count = (size_t)count;
    for (i = 0; i < count; i++) {
        dcf_tensor_info *t = &f->tensors[i];
        uint64_t name_len, numel = 1, at = c.pos, k, h;
        unsigned dtype, enc, ndim, d;
        const uint8_t *name;
        char *dst;
        if ((s = dcf__varint(&c, "name_len", &name_len))) goto out;
        if ((s = dcf__need(&c, name_len, "name"))) goto out;
        name = c.base + c.pos;
        at = c.pos;
        c.pos += name_len;
        if (name_len == 0) { s = DCF__FAIL(&c, DCF_E_METADATA, "name", at, "tensor %llu has an empty name", (unsigned long long)i); goto out; }
        if (name_len > 1024) { s = DCF__FAIL(&c, DCF_E_METADATA, "name", at, "name of %llu bytes > 1024", (unsigned long long)name_len); goto out; }
        for (k = 0; k < name_len;) {
            uint32_t cp;
            size_t l = dcf__utf8(name + k, (size_t)(name_len - k), &cp);
            if (!l) { s = DCF__FAIL(&c, DCF_E_METADATA, "name", at + k, "name is not valid UTF-8"); goto out; }
            if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) { s = DCF__FAIL(&c, DCF_E_METADATA, "name", at + k, "control character U+%04X in a name", (unsigned)cp); goto out; }
            k += l;
        }
        dst = f->names + names_bytes;
        memcpy(dst, name, (size_t)name_len);
        dst[name_len] = 0;
        names_bytes += (size_t)name_len + 1;
        t->name = dst;
        t->name_len = (size_t)name_len;
        h = dcf__hash(name, (size_t)name_len);
        for (k = h % nslots;; k = (k + 1) % nslots) { /* duplicate names: open addressing on index+1 */
            uint64_t j = slots[k];
            if (!j) { slots[k] = i + 1; break; }
            if (f->tensors[j - 1].name_len == name_len && memcmp(f->tensors[j - 1].name, name, (size_t)name_len) == 0) {
                s = DCF__FAIL(&c, DCF_E_METADATA, "name", at, "tensor name '%.60s' repeats tensor %llu", dst, (unsigned long long)(j - 1));
                goto out;
            }
        }
        c.tensor = t->name;
        at = c.pos;
        if ((s = dcf__u8(&c, "dtype", &dtype))) goto out;
        if (dtype < 1 || dtype > 12) { s = DCF__FAIL(&c, DCF_E_UNSUPPORTED_FEATURE, "dtype", at, "unknown dtype code %u", dtype); goto out; }
        at = c.pos;
        if ((s = dcf__u8(&c, "encoding", &enc))) goto out;
        if (enc > 2) { s = DCF__FAIL(&c, DCF_E_UNSUPPORTED_FEATURE, "encoding", at, "unknown encoding code %u", enc); goto out; }
        if (enc != DCF_RAW && dtype > 3) { s = DCF__FAIL(&c, DCF_E_METADATA, "dtype", at - 1, "%s encoding needs a float dtype, not code %u", enc == 1 ? "DENSE" : "SPARSE", dtype); goto out; }
        at = c.pos;
        if ((s = dcf__u8(&c, "ndim", &ndim))) goto out;
        if (ndim > 8) { s = DCF__FAIL(&c, DCF_E_LIMIT, "ndim", at, "ndim %u > 8", ndim); goto out; }
        for (d = 0; d < ndim; d++) {
            at = c.pos;
            if ((s = dcf__varint(&c, "shape", &t->shape[d]))) goto out;
            if (!dcf__mul(numel, t->shape[d], &numel) || numel > f->limits.max_tensor_elements) {
                s = DCF__FAIL(&c, DCF_E_LIMIT, "shape", at, "more than %llu elements", (unsigned long long)f->limits.max_tensor_elements);
                goto out;
            }
        }
        t->dtype = (dcf_dtype)dtype;
        t->encoding = (dcf_encoding)enc;
        t->ndim = ndim;
        t->numel = numel;
        if (ndim >= 2) { t->rows = t->shape[0]; t->cols = t->shape[0] ? numel / t->shape[0] : 0; }
        else { t->rows = 1; t->cols = numel; }
        if (ndim >= 2 && t->shape[0] == 0) { /* cols is the product of the other dimensions even when rows = 0 */
            uint64_t cols = 1;
            for (d = 1; d < ndim; d++)
                if (!dcf__mul(cols, t->shape[d], &cols)) { s = DCF__FAIL(&c, DCF_E_LIMIT, "shape", at, "column count overflows"); goto out; }
            t->cols = cols;
        }
        if (!dcf__mul(numel, dcf_dtype_size(t->dtype), &t->nbytes) || t->nbytes > f->limits.max_tensor_bytes) {
            s = DCF__FAIL(&c, DCF_E_LIMIT, "shape", at, "%llu decoded bytes > per-tensor limit %llu",
                          (unsigned long long)t->nbytes, (unsigned long long)f->limits.max_tensor_bytes);
            goto out;
        }
        if (!dcf__add(total, t->nbytes, &total) || total > f->limits.max_total_bytes) {
            s = DCF__FAIL(&c, DCF_E_LIMIT, "shape", at, "decoded bytes of the file exceed the per-load limit %llu",
                          (unsigned long long)f->limits.max_total_bytes);
            goto out;
        }
        c.tensor = NULL;
    }
    if (c.pos != c.end) { s = DCF__FAIL(&c, DCF_E_LAYOUT, "TABL", c.pos, "%llu bytes after the last table entry", (unsigned long long)(c.end - c.pos)); goto out; }
    s = DCF_OK;
out:
    dcf__release(f, slots);
    return s;
}

static dcf_status dcf__open(dcf_file *f, dcf_error *err) {
    const uint8_t *d = f->data;
    uint64_t size = f->size, pos, count, i, ndata = 0;
    uint32_t flags;
    unsigned major;
    int seen_meta = 0, seen_graph = 0, seen_table = 0;
    dcf_status s;
    if (size > f->limits.max_file_bytes)
        return dcf__fail(err, DCF_E_LIMIT, NULL, "file", 0, 0, "file of %llu bytes > limit %llu",
                         (unsigned long long)size, (unsigned long long)f->limits.max_file_bytes);
    if (size < 8) {
        if (memcmp(d, dcf__signature, (size_t)size) == 0)
            return dcf__fail(err, DCF_E_TRUNCATED, NULL, "signature", 1, 0, "file of %llu bytes ends inside the signature", (unsigned long long)size);
        return dcf__fail(err, DCF_E_BAD_MAGIC, NULL, "signature", 1, 0, "not a dcformat file");
    }
    if (memcmp(d, dcf__signature, 8) != 0) return dcf__fail(err, DCF_E_BAD_MAGIC, NULL, "signature", 1, 0, "not a dcformat file (signature 89 44 43 46 0D 0A 1A 0A)");
    if (size < 24) return dcf__fail(err, DCF_E_TRUNCATED, NULL, "header", 1, size, "file of %llu bytes ends inside the 24-byte preamble", (unsigned long long)size);
    major = (unsigned)d[8] | (unsigned)d[9] << 8;
    if (major != 1) return dcf__fail(err, DCF_E_UNSUPPORTED_VERSION, NULL, "version_major", 1, 8, "major version %u (this reader reads 1)", major);
    if (dcf__crc(f->crc_table, d + 8, 12) != dcf__le32(d + 20)) return dcf__fail(err, DCF_E_CHECKSUM, NULL, "header_crc", 1, 20, "header CRC mismatch");
    flags = dcf__le32(d + 12);
    if (flags & 0xFFFFu) return dcf__fail(err, DCF_E_UNSUPPORTED_FEATURE, NULL, "flags", 1, 12, "must-understand flag bits 0x%04X set", (unsigned)(flags & 0xFFFFu));
    count = dcf__le32(d + 16);
    if (count == 0) return dcf__fail(err, DCF_E_LAYOUT, NULL, "section_count", 1, 16, "section_count 0: a file has a TABL section");
    if (count > f->limits.max_sections) return dcf__fail(err, DCF_E_LIMIT, NULL, "section_count", 1, 16, "%llu sections > limit %llu", (unsigned long long)count, (unsigned long long)f->limits.max_sections);
    if (count * 20 > size - 24) return dcf__fail(err, DCF_E_TRUNCATED, NULL, "section_count", 1, 16, "%llu sections cannot fit in %llu bytes", (unsigned long long)count, (unsigned long long)(size - 24));
    pos = 24;
    for (i = 0; i < count; i++) {
        uint64_t len, end, next, k;
        const uint8_t *kind = d + pos;
        int critical;
        if (size - pos < 16) return dcf__fail(err, DCF_E_TRUNCATED, NULL, "section", 1, pos, "section %llu of %llu is missing", (unsigned long long)i, (unsigned long long)count);
        for (k = 0; k < 4; k++)
            if (!((kind[k] >= 'A' && kind[k] <= 'Z') || (kind[k] >= 'a' && kind[k] <= 'z')))
                return dcf__fail(err, DCF_E_LAYOUT, NULL, "section.kind", 1, pos + k, "section kind byte 0x%02X is not a letter", kind[k]);
        if (dcf__le32(d + pos + 4)) return dcf__fail(err, DCF_E_UNSUPPORTED_FEATURE, NULL, "section.flags", 1, pos + 4, "section flags 0x%08X set", (unsigned)dcf__le32(d + pos + 4));
        len = dcf__le64(d + pos + 8);
        if (size - pos - 16 < 4 || len > size - pos - 16 - 4)
            return dcf__fail(err, DCF_E_TRUNCATED, NULL, "section.length", 1, pos + 8, "%.4s section of %llu bytes runs past the end", (const char *)kind, (unsigned long long)len);
        end = pos + 16 + len;
        if (dcf__crc(f->crc_table, d + pos, (size_t)(16 + len)) != dcf__le32(d + end))
            return dcf__fail(err, DCF_E_CHECKSUM, NULL, "section.crc", 1, end, "%.4s section CRC mismatch", (const char *)kind);
        end += 4;
        next = (end + 7) & ~(uint64_t)7;
        if (next > size) return dcf__fail(err, DCF_E_TRUNCATED, NULL, "section.padding", 1, end, "section padding runs past the end");
        for (k = end; k < next; k++)
            if (d[k]) return dcf__fail(err, DCF_E_LAYOUT, NULL, "section.padding", 1, k, "non-zero section padding");
        critical = kind[0] >= 'A' && kind[0] <= 'Z';
        if (i == 0 && memcmp(kind, "TABL", 4) != 0) return dcf__fail(err, DCF_E_LAYOUT, NULL, "section.kind", 1, pos, "the first section is %.4s, not TABL", (const char *)kind);
        if (memcmp(kind, "TABL", 4) == 0) {
            if (seen_table) return dcf__fail(err, DCF_E_LAYOUT, NULL, "section.kind", 1, pos, "a second TABL section");
            seen_table = 1;
            if ((s = dcf__table(f, pos + 16, len, err))) return s;
        } else if (memcmp(kind, "META", 4) == 0 || memcmp(kind, "GRPH", 4) == 0) {
            int is_meta = kind[0] == 'M';
            const char *why = NULL;
            uint64_t lim = is_meta ? f->limits.max_metadata_bytes : f->limits.max_graph_bytes;
            dcf_status cls = is_meta ? DCF_E_METADATA : DCF_E_GRAPH;
            if (is_meta ? seen_meta : seen_graph) return dcf__fail(err, DCF_E_LAYOUT, NULL, "section.kind", 1, pos, "a second %.4s section", (const char *)kind);
            if (ndata) return dcf__fail(err, DCF_E_LAYOUT, NULL, "section.kind", 1, pos, "%.4s after a DATA section", (const char *)kind);
            if (len > lim) return dcf__fail(err, cls, NULL, is_meta ? "META" : "GRPH", 1, pos + 16, "payload of %llu bytes > limit %llu", (unsigned long long)len, (unsigned long long)lim);
            s = dcf__json_check(f, d + pos + 16, (size_t)len, is_meta ? f->limits.max_json_depth : (f->limits.max_json_depth < 8 ? f->limits.max_json_depth : 8), &why);
            if (s == DCF_E_METADATA) s = cls;
            if (s) return dcf__fail(err, s, NULL, is_meta ? "META" : "GRPH", 1, pos + 16, "%s", why);
            if (is_meta) { seen_meta = 1; f->meta = d + pos + 16; f->meta_len = (size_t)len; }
            else { seen_graph = 1; f->graph = d + pos + 16; f->graph_len = (size_t)len; }
        } else if (memcmp(kind, "DATA", 4) == 0) {
            if (ndata >= f->count) return dcf__fail(err, DCF_E_LAYOUT, NULL, "section.kind", 1, pos, "DATA section %llu, but the table has %llu tensors", (unsigned long long)ndata, (unsigned long long)f->count);
            f->tensors[ndata].payload_offset = pos + 16;
            f->tensors[ndata].payload_len = len;
            ndata++;
        } else if (critical) {
            return dcf__fail(err, DCF_E_UNSUPPORTED_FEATURE, NULL, "section.kind", 1, pos, "unknown critical section %.4s", (const char *)kind);
        } /* unknown ancillary: CRC verified above, skipped */
        pos = next;
    }
    if (pos != size) return dcf__fail(err, DCF_E_TRAILING_DATA, NULL, "file", 1, pos, "%llu bytes after the last section", (unsigned long long)(size - pos));
    if (ndata != f->count) return dcf__fail(err, DCF_E_LAYOUT, NULL, "DATA", 1, pos, "%llu DATA sections for %llu tensors", (unsigned long long)ndata, (unsigned long long)f->count);
    return DCF_OK;
}

dcf_status dcf_open_memory(dcf_file **out, const void *data, size_t size, const dcf_limits *limits,
                           const dcf_allocator *alloc, dcf_error *err) {
    dcf_file *f;
    dcf_allocator a;
    dcf_status s;
    dcf__ok(err);
    if (!out || (!data && size)) return dcf__fail(err, DCF_E_ARGUMENT, NULL, "", 0, 0, "NULL argument");
    *out = NULL;
    if (alloc && alloc->alloc && alloc->free) a = *alloc;
    else { a.alloc = dcf__malloc; a.free = dcf__free; a.user = NULL; }
    f = (dcf_file *)a.alloc(a.user, sizeof *f);
    if (!f) return dcf__fail(err, DCF_E_LIMIT, NULL, "", 0, 0, "allocation failed");
    memset(f, 0, sizeof *f);
    f->alloc = a;
    if (limits) f->limits = *limits; else dcf_default_limits(&f->limits);
    f->data = (const uint8_t *)(data ? data : (const void *)dcf__signature);
    f->size = size;
    dcf__crc_init(f->crc_table);
    s = dcf__open(f, err);
    if (s) { dcf_close(f); return s; }
    *out = f;
    return DCF_OK;
}

dcf_status dcf_open_path(dcf_file **out, const char *path, const dcf_limits *limits, const dcf_allocator *alloc,
                         dcf_error *err) {
    FILE *fp;
    long len;
    uint8_t *buf;
    dcf_allocator a;
    dcf_limits l;
    dcf_status s;
    dcf__ok(err);
    if (!out || !path) return dcf__fail(err, DCF_E_ARGUMENT, NULL, "", 0, 0, "NULL argument");
    *out = NULL;
    if (alloc && alloc->alloc && alloc->free) a = *alloc;
    else { a.alloc = dcf__malloc; a.free = dcf__free; a.user = NULL; }
    if (limits) l = *limits; else dcf_default_limits(&l);
    fp = fopen(path, "rb");
    if (!fp) return dcf__fail(err, DCF_E_IO, NULL, "file", 0, 0, "cannot open %.200s", path);
    if (fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return dcf__fail(err, DCF_E_IO, NULL, "file", 0, 0, "cannot size %.200s", path);
    }
    if ((uint64_t)len > l.max_file_bytes || (uint64_t)len > (uint64_t)(size_t)-1) {
        fclose(fp);
        return dcf__fail(err, DCF_E_LIMIT, NULL, "file", 0, 0, "file of %ld bytes > limit %llu", len, (unsigned long long)l.max_file_bytes);
    }
    buf = (uint8_t *)a.alloc(a.user, (size_t)len ? (size_t)len : 1);
    if (!buf) { fclose(fp); return dcf__fail(err, DCF_E_LIMIT, NULL, "file", 0, 0, "allocation of %ld bytes failed", len); }
    if (fread(buf, 1, (size_t)len, fp) != (size_t)len) {
        fclose(fp);
        a.free(a.user, buf);
        return dcf__fail(err, DCF_E_IO, NULL, "file", 0, 0, "cannot read %.200s", path);
    }
    fclose(fp);
    s = dcf_open_memory(out, buf, (size_t)len, &l, &a, err);
    if (s) { a.free(a.user, buf); return s; }
    (*out)->owned = buf;
    return DCF_OK;
}

void dcf_close(dcf_file *f) {
    if (!f) return;
    dcf__release(f, f->tensors);
    dcf__release(f, f->names);
    dcf__release(f, f->owned);
    f->alloc.free(f->alloc.user, f);
}

size_t dcf_tensor_count(const dcf_file *f) { return f ? f->count : 0; }
const dcf_tensor_info *dcf_tensor(const dcf_file *f, size_t i) { return (f && i < f->count) ? &f->tensors[i] : NULL; }
long dcf_find(const dcf_file *f, const char *name) {
    size_t i, n = strlen(name);
    for (i = 0; f && i < f->count; i++)
        if (f->tensors[i].name_len == n && memcmp(f->tensors[i].name, name, n) == 0) return (long)i;
    return -1;
}
const uint8_t *dcf_metadata(const dcf_file *f, size_t *len) { if (len) *len = f->meta_len; return f->meta; }
const uint8_t *dcf_graph(const dcf_file *f, size_t *len) { if (len) *len = f->graph_len; return f->graph; }

/* ---- symbol streams (§6) ---------------------------------------------------------------------------------------- */

/* Bits p..p+56 of d (MSB first) left-justified; bytes at or past n read as zero. */
static uint64_t dcf__peek_safe(const uint8_t *d, uint64_t n, uint64_t bitpos) {
    uint64_t byte = bitpos >> 3, w = 0;
    unsigned k;
    if (byte + 8 <= n) return dcf__be64(d + byte) << (bitpos & 7);
    for (k = 0; k < 8; k++) w = w << 8 | (byte + k < n ? d[byte + k] : 0);
    return w << (bitpos & 7);
}

/* `bits` of data used; the rest of `nbytes` must be < 8 zero padding bits (§1). */
static int dcf__tail_ok(const uint8_t *d, uint64_t nbytes, uint64_t bits) {
    uint64_t need = (bits + 7) / 8;
    if (need != nbytes) return 0;
    if (bits & 7) return (d[nbytes - 1] & (0xFFu >> (bits & 7))) == 0;
    return 1;
}

typedef struct {
    uint64_t lut[1u << DCF_LUT_BITS]; /* bits 0-1: symbols (0 = code longer than the LUT), 2-7: bits, 16-63: symbols */
    uint32_t single_sym[1u << DCF_LUT_BITS];
    uint8_t single_len[1u << DCF_LUT_BITS];
    uint32_t first[DCF_MAX_CODE_LEN + 2], count[DCF_MAX_CODE_LEN + 2], offset[DCF_MAX_CODE_LEN + 2];
    uint32_t *sorted;
    unsigned maxlen;
    int multi;
} dcf__huff;

/* Long-code decode from a left-justified window holding >= 24 valid bits. */
static uint32_t dcf__huff_slow(const dcf__huff *h, uint64_t w, unsigned *len) {
    unsigned L;
    for (L = DCF_LUT_BITS + 1; L <= h->maxlen; L++) {
        uint32_t code = (uint32_t)(w >> (64 - L));
        if (code - h->first[L] < h->count[L]) { *len = L; return h->sorted[h->offset[L] + code - h->first[L]]; }
    }
    *len = 0; /* unreachable for a complete code */
    return 0;
}

/* Decode one stream of n symbols in [0, alphabet) (§6). `wide`: uint32 symbols, else uint16 (alphabet <= 2^16).
 * The symbols go to `dst` when given (room for n), else to a new array returned in *out_syms. */
static dcf_status dcf__stream(const dcf_file *f, dcf__cur *c, uint64_t n, uint64_t alphabet, const char *what,
                              int wide, void *dst, void **out_syms) {
    char field[48];
    unsigned coding;
    uint64_t at = c->pos, nbytes;
    void *out = NULL;
    uint16_t *o16;
    uint32_t *o32;
    dcf_status s;
    *out_syms = NULL;
    snprintf(field, sizeof field, "%s.coding", what);
    if ((s = dcf__u8(c, field, &coding))) return s;
    if (coding > 2) return DCF__FAIL(c, DCF_E_UNSUPPORTED_FEATURE, field, at, "unknown stream coding %u", coding);
#define DCF__OUT_ALLOC()                                                                                              \
    do {                                                                                                              \
        out = dst ? dst : (n ? dcf__alloc_n(f, n, wide ? 4 : 2) : NULL);                                              \
        if (n && !out) return DCF__FAIL(c, DCF_E_LIMIT, field, at, "cannot allocate %llu symbols", (unsigned long long)n); \
        o16 = (uint16_t *)out;                                                                                        \
        o32 = (uint32_t *)out;                                                                                        \
    } while (0)
#define DCF__OUT_DROP() do { if (!dst) dcf__release(f, out); } while (0)
    if (coding == 2) { /* CONSTANT */
        uint64_t sym, i;
        snprintf(field, sizeof field, "%s.symbol", what);
        at = c->pos;
        if ((s = dcf__varint(c, field, &sym))) return s;
        if (sym >= alphabet) return DCF__FAIL(c, DCF_E_BITSTREAM, field, at, "CONSTANT symbol %llu >= alphabet %llu", (unsigned long long)sym, (unsigned long long)alphabet);
        DCF__OUT_ALLOC();
        if (wide) for (i = 0; i < n; i++) o32[i] = (uint32_t)sym;
        else for (i = 0; i < n; i++) o16[i] = (uint16_t)sym;
        *out_syms = out;
        return DCF_OK;
    }
    if (coding == 0) { /* FIXED */
        unsigned width;
        uint64_t bits, i = 0, pos = 0, bad = 0;
        const uint8_t *d;
        snprintf(field, sizeof field, "%s.width", what);
        at = c->pos;
        if ((s = dcf__u8(c, field, &width))) return s;
        if (width < 1 || width > 32) return DCF__FAIL(c, DCF_E_LIMIT, field, at, "FIXED width %u outside 1..32", width);
        snprintf(field, sizeof field, "%s.data", what);
        at = c->pos;
        if (!dcf__mul(n, width, &bits) || bits / 8 + ((bits & 7) ? 1 : 0) > c->end - c->pos)
            return DCF__FAIL(c, DCF_E_TRUNCATED, field, at, "%llu symbols of %u bits run past the end", (unsigned long long)n, width);
        nbytes = bits / 8 + ((bits & 7) ? 1 : 0);
        d = c->base + c->pos;
        c->pos += nbytes;
        if (!dcf__tail_ok(d, nbytes, bits)) return DCF__FAIL(c, DCF_E_BITSTREAM, field, at, "non-zero padding bits");
        DCF__OUT_ALLOC();
#define DCF__FIXED_LOOP(O, T)                                                                                         \
        for (; i < n && (pos >> 3) + 8 <= nbytes; i++, pos += width) {                                               \
            uint64_t v_ = DCF__BE64(d + (pos >> 3)) << (pos & 7) >> (64 - width);                                    \
            bad |= v_ >= alphabet;                                                                                    \
            O[i] = (T)v_;                                                                                             \
        }                                                                                                             \
        for (; i < n; i++, pos += width) {                                                                            \
            uint64_t v_ = dcf__peek_safe(d, nbytes, pos) >> (64 - width);                                            \
            bad |= v_ >= alphabet;                                                                                    \
            O[i] = (T)v_;                                                                                             \
        }
        if (wide) { DCF__FIXED_LOOP(o32, uint32_t) } else { DCF__FIXED_LOOP(o16, uint16_t) }
        if (bad) { /* find the first offending symbol for the message */
            for (i = 0, pos = 0; i < n; i++, pos += width) {
                uint64_t v = dcf__peek_safe(d, nbytes, pos) >> (64 - width);
                if (v >= alphabet) {
                    DCF__OUT_DROP();
                    return DCF__FAIL(c, DCF_E_BITSTREAM, field, at + pos / 8, "symbol %llu is %llu >= alphabet %llu", (unsigned long long)i, (unsigned long long)v, (unsigned long long)alphabet);
                }
            }
        }
        *out_syms = out;
        return DCF_OK;
    }
    { /* HUFFMAN */
        unsigned lw, L;
        uint64_t T, tbytes, i, kraft = 0, used = 0, at_nbytes, pos = 0;
        const uint8_t *tab, *d;
        dcf__huff *h;
        uint32_t next[DCF_MAX_CODE_LEN + 2];
        snprintf(field, sizeof field, "%s.lw", what);
        at = c->pos;
        if ((s = dcf__u8(c, field, &lw))) return s;
        if (lw < 1 || lw > 5) return DCF__FAIL(c, DCF_E_HUFFMAN_TABLE, field, at, "length field width %u outside 1..5", lw);
        snprintf(field, sizeof field, "%s.T", what);
        at = c->pos;
        if ((s = dcf__varint(c, field, &T))) return s;
        if (T < 2 || T > alphabet) return DCF__FAIL(c, DCF_E_HUFFMAN_TABLE, field, at, "T = %llu outside 2..%llu", (unsigned long long)T, (unsigned long long)alphabet);
        snprintf(field, sizeof field, "%s.nbytes", what);
        at_nbytes = c->pos;
        if ((s = dcf__varint(c, field, &nbytes))) return s;
        snprintf(field, sizeof field, "%s.lengths", what);
        at = c->pos;
        tbytes = (T * lw + 7) / 8; /* T <= 2^32, lw <= 5: no overflow */
        if ((s = dcf__need(c, tbytes, field))) return s;
        tab = c->base + c->pos;
        c->pos += tbytes;
        if (!dcf__tail_ok(tab, tbytes, T * lw)) return DCF__FAIL(c, DCF_E_BITSTREAM, field, at, "non-zero padding bits");
        h = (dcf__huff *)dcf__alloc(f, sizeof *h);
        if (!h) return DCF__FAIL(c, DCF_E_LIMIT, field, at, "allocation failed");
        memset(h->count, 0, sizeof h->count);
        h->sorted = NULL;
        h->maxlen = 0;
        for (i = 0; i < T; i++) {
            unsigned len = (unsigned)(dcf__peek_safe(tab, tbytes, i * lw) >> (64 - lw));
            if (len > DCF_MAX_CODE_LEN) { s = DCF__FAIL(c, DCF_E_HUFFMAN_TABLE, field, at + i * lw / 8, "code length %u of symbol %llu > 24", len, (unsigned long long)i); goto hfail; }
            h->count[len]++;
            if (len > h->maxlen) h->maxlen = len;
            if (i == T - 1 && len == 0) { s = DCF__FAIL(c, DCF_E_HUFFMAN_TABLE, field, at, "lengths[T-1] is 0"); goto hfail; }
        }
        for (L = 1; L <= DCF_MAX_CODE_LEN; L++) { kraft += (uint64_t)h->count[L] << (DCF_MAX_CODE_LEN - L); used += h->count[L]; }
        if (used < 2) { s = DCF__FAIL(c, DCF_E_HUFFMAN_TABLE, field, at, "fewer than two used symbols"); goto hfail; }
        if (kraft != ((uint64_t)1 << DCF_MAX_CODE_LEN)) { s = DCF__FAIL(c, DCF_E_HUFFMAN_TABLE, field, at, "incomplete or over-subscribed code (Kraft sum %llu/2^24)", (unsigned long long)kraft); goto hfail; }
        if (n / 8 > nbytes || (n / 8 == nbytes && (n & 7))) { s = DCF__FAIL(c, DCF_E_LIMIT, field, at_nbytes, "%llu symbols cannot fit in %llu bytes", (unsigned long long)n, (unsigned long long)nbytes); goto hfail; }
        snprintf(field, sizeof field, "%s.data", what);
        at = c->pos;
        if ((s = dcf__need(c, nbytes, field))) goto hfail;
        d = c->base + c->pos;
        c->pos += nbytes;
        /* canonical code (RFC 1951 §3.2.2) */
        h->count[0] = 0;
        {
            uint32_t code = 0, off = 0;
            for (L = 1; L <= DCF_MAX_CODE_LEN; L++) {
                code = (code + h->count[L - 1]) << 1;
                h->first[L] = code;
                h->offset[L] = off;
                next[L] = off;
                off += h->count[L];
            }
        }
        h->sorted = (uint32_t *)dcf__alloc_n(f, used, 4);
        if (!h->sorted) { s = DCF__FAIL(c, DCF_E_LIMIT, field, at, "allocation failed"); goto hfail; }
        for (i = 0; i < T; i++) {
            unsigned len = (unsigned)(dcf__peek_safe(tab, tbytes, i * lw) >> (64 - lw));
            if (len) h->sorted[next[len]++] = (uint32_t)i;
        }
        h->multi = !wide; /* narrow streams have symbols < 2^16: three fit in one table entry */
        {
            uint32_t w, k;
            for (w = 0; w < (1u << DCF_LUT_BITS); w++) h->single_len[w] = 0;
            for (L = 1; L <= DCF_LUT_BITS && L <= h->maxlen; L++)
                for (k = 0; k < h->count[L]; k++) {
                    uint32_t code = h->first[L] + k, lo = code << (DCF_LUT_BITS - L), hi = (code + 1) << (DCF_LUT_BITS - L);
                    uint32_t sym = h->sorted[h->offset[L] + k];
                    for (w = lo; w < hi; w++) { h->single_len[w] = (uint8_t)L; h->single_sym[w] = sym; }
                }
            for (w = 0; w < (1u << DCF_LUT_BITS); w++) {
                unsigned bits = 0, nsym = 0;
                uint64_t e = 0;
                while (nsym < (h->multi ? 3u : 1u)) {
                    uint32_t sub = (w << bits) & ((1u << DCF_LUT_BITS) - 1);
                    unsigned l = h->single_len[sub];
                    if (!l || l > DCF_LUT_BITS - bits) break;
                    if (h->multi) e |= (uint64_t)h->single_sym[sub] << (16 + 16 * nsym);
                    else e |= (uint64_t)h->single_sym[sub] << 32;
                    bits += l;
                    nsym++;
                }
                h->lut[w] = e | (uint64_t)bits << 2 | nsym;
            }
        }
        out = dst ? dst : (n ? dcf__alloc_n(f, n, wide ? 4 : 2) : NULL);
        if (n && !out) { s = DCF__FAIL(c, DCF_E_LIMIT, field, at, "cannot allocate %llu symbols", (unsigned long long)n); goto hfail; }
        o16 = (uint16_t *)out;
        o32 = (uint32_t *)out;
        i = 0;
        if (!wide) {
            /* Multi-symbol look-ups: up to 3 symbols per 11-bit window; 4 look-ups per 64-bit load (each takes <= 11
             * of the >= 57 loaded bits, a long code <= 24). Writes 3 symbols per look-up, so stop 12 before n. */
            const uint64_t *lut = h->lut;
            while (i + 12 <= n && (pos >> 3) + 8 <= nbytes) {
                uint64_t w = DCF__BE64(d + (pos >> 3)) << (pos & 7);
                uint64_t e = lut[w >> (64 - DCF_LUT_BITS)];
                unsigned b, r;
                for (r = 0; r < 4; r++) {
                    if (!(e & 3)) { /* a code longer than the table */
                        o16[i++] = (uint16_t)dcf__huff_slow(h, w, &b);
                        pos += b;
                        break;
                    }
                    o16[i] = (uint16_t)(e >> 16);
                    o16[i + 1] = (uint16_t)(e >> 32);
                    o16[i + 2] = (uint16_t)(e >> 48);
                    i += e & 3;
                    b = (unsigned)(e >> 2) & 63;
                    pos += b;
                    w <<= b;
                    e = lut[w >> (64 - DCF_LUT_BITS)];
                }
            }
        } else {
            while (i < n && (pos >> 3) + 8 <= nbytes) {
                uint64_t w = DCF__BE64(d + (pos >> 3)) << (pos & 7);
                uint64_t e = h->lut[w >> (64 - DCF_LUT_BITS)];
                unsigned b;
                if (e & 3) { o32[i++] = (uint32_t)(e >> 32); b = (unsigned)(e >> 2) & 63; }
                else o32[i++] = dcf__huff_slow(h, w, &b);
                pos += b;
            }
        }
        for (; i < n; i++) { /* tail: one symbol at a time, reads past the data see zeros */
            uint64_t w;
            unsigned b;
            uint32_t sym;
            if (pos >= nbytes * 8) break;
            w = dcf__peek_safe(d, nbytes, pos);
            b = h->single_len[w >> (64 - DCF_LUT_BITS)];
            if (b) sym = h->single_sym[w >> (64 - DCF_LUT_BITS)];
            else sym = dcf__huff_slow(h, w, &b);
            if (wide) o32[i] = sym; else o16[i] = (uint16_t)sym;
            pos += b;
        }
        if (i < n || pos > nbytes * 8) {
            s = DCF__FAIL(c, DCF_E_BITSTREAM, field, at, "codeword data ends before %llu codewords", (unsigned long long)n);
            goto hfail;
        }
        if (!dcf__tail_ok(d, nbytes, pos)) {
            s = DCF__FAIL(c, DCF_E_BITSTREAM, field, at + pos / 8, "after %llu codewords: extra bytes or non-zero padding bits", (unsigned long long)n);
            goto hfail;
        }
        dcf__release(f, h->sorted);
        dcf__release(f, h);
        *out_syms = out;
        return DCF_OK;
    hfail:
        if (out) DCF__OUT_DROP();
        dcf__release(f, h->sorted);
        dcf__release(f, h);
        return s;
    }
#undef DCF__OUT_ALLOC
#undef DCF__OUT_DROP
#undef DCF__FIXED_LOOP
}

/* ---- tensor payloads (§5) ----------------------------------------------------------------------------------------- */

/* float32 -> float16 bits, round to nearest even (as NumPy's astype). */
static uint16_t dcf__f16(float v) {
    uint32_t x, sign, e, m;
    int32_t ex;
    memcpy(&x, &v, 4);
    sign = (x >> 16) & 0x8000u;
    e = (x >> 23) & 0xFFu;
    m = x & 0x7FFFFFu;
    if (e == 0xFF) return (uint16_t)(sign | 0x7C00u | (m ? 0x200u | (m >> 13) : 0));
    ex = (int32_t)e - 112;
    if (ex >= 31) return (uint16_t)(sign | 0x7C00u);
    if (ex <= 0) {
        uint32_t shift, half, rem, mid;
        if (ex < -10) return (uint16_t)sign;
        m |= 0x800000u;
        shift = (uint32_t)(14 - ex);
        half = m >> shift;
        rem = m & ((1u << shift) - 1);
        mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    } else {
        uint32_t half = sign | ((uint32_t)ex << 10) | (m >> 13), rem = m & 0x1FFFu;
        if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) half++;
        return (uint16_t)half;
    }
}

typedef struct {
    unsigned q, b;
    uint64_t K;
    float cb[65536 + 1];
    uint64_t at_codebook;
    union { float f32[65536]; uint16_t f16[65536]; } lut; /* codebook in the output dtype */
    uint8_t nonzero[65536];
} dcf__quant;

static dcf_status dcf__quant_head(dcf__cur *c, const dcf_tensor_info *t, dcf__quant *qh) {
    unsigned q, b, k;
    uint64_t at = c->pos;
    dcf_status s;
    if ((s = dcf__u8(c, "code_bits", &q))) return s;
    if (q < 1 || q > 16) return DCF__FAIL(c, DCF_E_CODEBOOK, "code_bits", at, "code_bits %u outside 1..16", q);
    at = c->pos;
    if ((s = dcf__u8(c, "index_bits", &b))) return s;
    if (t->encoding == DCF_DENSE && b != 0) return DCF__FAIL(c, DCF_E_LAYOUT, "index_bits", at, "DENSE index_bits %u, must be 0", b);
    if (t->encoding == DCF_SPARSE && (b < 1 || b > 16)) return DCF__FAIL(c, DCF_E_SPARSE_INDEX, "index_bits", at, "index_bits %u outside 1..16", b);
    at = c->pos;
    if ((s = dcf__varint(c, "codebook_size", &qh->K))) return s;
    if (qh->K > ((uint64_t)1 << q)) return DCF__FAIL(c, DCF_E_CODEBOOK, "codebook_size", at, "K = %llu > 2^%u", (unsigned long long)qh->K, q);
    at = c->pos;
    qh->at_codebook = at;
    if ((s = dcf__need(c, qh->K * 4, "codebook"))) return s;
    for (k = 0; k < qh->K; k++) {
        uint32_t bits = dcf__le32(c->base + c->pos + 4 * (uint64_t)k);
        float v;
        memcpy(&v, &bits, 4);
        qh->cb[k] = v;
        if (((bits >> 23) & 0xFF) == 0xFF) return DCF__FAIL(c, DCF_E_CODEBOOK, "codebook", at + 4 * (uint64_t)k, "codebook[%u] is not finite", k);
        if (t->dtype == DCF_FLOAT16 && (dcf__f16(v) & 0x7C00u) == 0x7C00u)
            return DCF__FAIL(c, DCF_E_CODEBOOK, "codebook", at + 4 * (uint64_t)k, "codebook[%u] = %g overflows float16", k, (double)v);
    }
    c->pos += qh->K * 4;
    qh->q = q;
    qh->b = b;
    return DCF_OK;
}

/* Codebook converted to the output dtype, as bytes per code. */
static void dcf__cb_convert(const dcf__quant *qh, dcf_dtype dt, void *lut) {
    uint64_t k;
    for (k = 0; k < qh->K; k++) {
        if (dt == DCF_FLOAT32) ((float *)lut)[k] = qh->cb[k];
        else if (dt == DCF_FLOAT64) ((double *)lut)[k] = (double)qh->cb[k];
        else ((uint16_t *)lut)[k] = dcf__f16(qh->cb[k]);
    }
}

static dcf_status dcf__end(dcf__cur *c) {
    if (c->pos != c->end) return DCF__FAIL(c, DCF_E_LAYOUT, "payload", c->pos, "%llu bytes after the last field", (unsigned long long)(c->end - c->pos));
    return DCF_OK;
}

/* The zstd frame header and block structure (RFC 8878 §3.1.1), checked before anything is decompressed. */
static dcf_status dcf__zstd_check(const dcf_file *f, dcf__cur *c, uint64_t at, uint64_t size, uint64_t want) {
    const uint8_t *fr = c->base + at;
    unsigned fhd, single, checksum, dict_flag, fcs_flag;
    uint64_t pos = 5, window = 0, fcs = 0, block_max, ratio_cap;
    unsigned dict_len, fcs_len, k;
    int have_window = 0;
    if (!dcf__mul(f->limits.max_zstd_ratio, size, &ratio_cap)) ratio_cap = DCF_U64_MAX;
    if (want > ratio_cap) return DCF__FAIL(c, DCF_E_LIMIT, "data", at, "%llu bytes from a %llu-byte frame exceeds the ratio cap %llu", (unsigned long long)want, (unsigned long long)size, (unsigned long long)f->limits.max_zstd_ratio);
    if (size < 6 || dcf__le32(fr) != 0xFD2FB528u) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at, "not a zstd frame (magic 28 B5 2F FD)");
    fhd = fr[4];
    fcs_flag = fhd >> 6; single = (fhd >> 5) & 1; checksum = (fhd >> 2) & 1; dict_flag = fhd & 3;
    if ((fhd >> 3) & 1) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at + 4, "zstd frame header reserved bit set");
    if (!single) {
        unsigned wd = fr[pos++];
        uint64_t base = (uint64_t)1 << (10 + (wd >> 3));
        window = base + (base >> 3) * (wd & 7);
        have_window = 1;
        if (window > f->limits.max_zstd_window) return DCF__FAIL(c, DCF_E_LIMIT, "data", at + 5, "zstd window %llu > limit %llu", (unsigned long long)window, (unsigned long long)f->limits.max_zstd_window);
    }
    dict_len = dict_flag == 3 ? 4 : dict_flag;
    fcs_len = fcs_flag == 0 ? (single ? 1 : 0) : (fcs_flag == 1 ? 2 : (fcs_flag == 2 ? 4 : 8));
    if (pos + dict_len + fcs_len > size) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at, "zstd frame header is truncated");
    for (k = 0; k < dict_len; k++)
        if (fr[pos + k]) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at + pos, "zstd frame needs a dictionary");
    pos += dict_len;
    if (!fcs_len) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at + 4, "zstd frame has no Frame_Content_Size");
    for (k = 0; k < fcs_len; k++) fcs |= (uint64_t)fr[pos + k] << (8 * k);
    if (fcs_len == 2) fcs += 256;
    pos += fcs_len;
    if (fcs != want) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at, "zstd frame declares %llu bytes, the tensor needs %llu", (unsigned long long)fcs, (unsigned long long)want);
    if (!have_window) window = fcs;
    if (window > f->limits.max_zstd_window) return DCF__FAIL(c, DCF_E_LIMIT, "data", at, "zstd window %llu > limit %llu", (unsigned long long)window, (unsigned long long)f->limits.max_zstd_window);
    block_max = window < ((uint64_t)128 << 10) ? window : ((uint64_t)128 << 10);
    for (;;) {
        uint32_t head;
        unsigned kind;
        uint64_t length;
        if (size - pos < 3) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at + pos, "zstd frame ends inside a block header");
        head = (uint32_t)fr[pos] | (uint32_t)fr[pos + 1] << 8 | (uint32_t)fr[pos + 2] << 16;
        pos += 3;
        kind = (head >> 1) & 3;
        length = head >> 3;
        if (kind == 3) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at + pos - 3, "reserved zstd block type");
        if (length > block_max) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at + pos - 3, "zstd block of %llu bytes > Block_Maximum_Size %llu", (unsigned long long)length, (unsigned long long)block_max);
        length = kind == 1 ? 1 : length;
        if (length > size - pos) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at + pos, "zstd frame ends inside a block");
        pos += length;
        if (head & 1) break;
    }
    if (checksum) {
        if (size - pos < 4) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at + pos, "zstd checksum missing");
        pos += 4;
    }
    if (pos != size) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at + pos, "%llu bytes after the zstd frame", (unsigned long long)(size - pos));
    return DCF_OK;
}

static void dcf__swap_inplace(uint8_t *p, uint64_t numel, size_t item) {
    uint64_t i;
    size_t k;
    if (item == 1) return;
    for (i = 0; i < numel; i++, p += item)
        for (k = 0; k < item / 2; k++) { uint8_t tmp = p[k]; p[k] = p[item - 1 - k]; p[item - 1 - k] = tmp; }
}

static dcf_status dcf__raw(const dcf_file *f, dcf__cur *c, const dcf_tensor_info *t, uint8_t *out) {
    uint64_t at = c->pos, size, i;
    unsigned k, comp;
    dcf_status s;
    if ((s = dcf__need(c, 8, "raw header"))) return s;
    comp = c->base[c->pos];
    if (comp > 1) return DCF__FAIL(c, DCF_E_UNSUPPORTED_FEATURE, "compression", at, "unknown compression %u", comp);
    for (k = 1; k < 8; k++)
        if (c->base[c->pos + k]) return DCF__FAIL(c, DCF_E_UNSUPPORTED_FEATURE, "reserved", at + k, "reserved bytes are not zero");
    c->pos += 8;
    at = c->pos;
    size = c->end - c->pos;
    if (comp == 0) {
        if (size != t->nbytes) return DCF__FAIL(c, DCF_E_LAYOUT, "data", at, "%llu data bytes, the tensor needs %llu", (unsigned long long)size, (unsigned long long)t->nbytes);
        if (t->nbytes) memcpy(out, c->base + at, (size_t)t->nbytes);
    } else {
        if ((s = dcf__zstd_check(f, c, at, size, t->nbytes))) return s;
#ifdef DCFORMAT_WITH_ZSTD
        {
            size_t got = ZSTD_decompress(out, (size_t)t->nbytes, c->base + at, (size_t)size);
            if (ZSTD_isError(got)) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at, "zstd: %s", ZSTD_getErrorName(got));
            if (got != t->nbytes) return DCF__FAIL(c, DCF_E_DECOMPRESSION, "data", at, "zstd produced %llu bytes, the tensor needs %llu", (unsigned long long)got, (unsigned long long)t->nbytes);
        }
#else
        return DCF__FAIL(c, DCF_E_ZSTD_UNSUPPORTED, "compression", at - 8, "zstd-compressed tensor: this build has no zstd (compile with -DDCFORMAT_WITH_ZSTD -lzstd)");
#endif
    }
    c->pos = c->end;
    if (t->dtype == DCF_BOOL)
        for (i = 0; i < t->numel; i++)
            if (out[i] > 1) return DCF__FAIL(c, DCF_E_BITSTREAM, "data", comp ? at : at + i, "bool element %llu is %u, not 0 or 1", (unsigned long long)i, out[i]);
    if (!dcf__host_is_le()) dcf__swap_inplace(out, t->numel, dcf_dtype_size(t->dtype));
    return DCF_OK;
}

/* SPARSE streams, decoded: counts, per-class gap symbols, values. */
typedef struct {
    uint32_t *counts;
    uint16_t *values;          /* owned unless values_borrowed (CSR decodes straight into its codes array) */
    int values_borrowed;
    uint16_t *gaps[16];
    uint64_t gap_n[16], gap_at[16], nnz_c[16];
    uint64_t class_min[16];
    unsigned classes;
    uint64_t nnz;
} dcf__sparse;

static void dcf__sparse_free(const dcf_file *f, dcf__sparse *sp) {
    unsigned k;
    dcf__release(f, sp->counts);
    if (!sp->values_borrowed) dcf__release(f, sp->values);
    for (k = 0; k < 16; k++) dcf__release(f, sp->gaps[k]);
}

static unsigned dcf__class_of(const dcf__sparse *sp, uint32_t count) {
    unsigned c = 0;
    while (c + 1 < sp->classes && sp->class_min[c] <= count) c++;
    return c;
}

static dcf_status dcf__sparse_read(const dcf_file *f, dcf__cur *c, const dcf_tensor_info *t, dcf__quant *qh,
                                   dcf__sparse *sp, dcf_csr *csr) {
    uint64_t r, at, rows_c[16] = {0}, F;
    unsigned k, nc;
    dcf_status s;
    void *syms;
    memset(sp, 0, sizeof *sp);
    if ((s = dcf__quant_head(c, t, qh))) return s;
    if (t->cols >= ((uint64_t)1 << 32)) return DCF__FAIL(c, DCF_E_LIMIT, "row_counts", c->pos, "cols + 1 = %llu + 1 > 2^32", (unsigned long long)t->cols);
    if ((s = dcf__stream(f, c, t->rows, t->cols + 1, "row_counts", 1, NULL, &syms))) return s;
    sp->counts = (uint32_t *)syms;
    for (r = 0; r < t->rows; r++) sp->nnz += sp->counts[r];
    if (qh->K == 0 && sp->nnz) return DCF__FAIL(c, DCF_E_CODEBOOK, "codebook_size", qh->at_codebook, "K = 0 with %llu entries", (unsigned long long)sp->nnz);
    at = c->pos;
    if ((s = dcf__u8(c, "n_classes", &nc))) return s;
    if (nc < 1 || nc > 16) return DCF__FAIL(c, DCF_E_SPARSE_INDEX, "n_classes", at, "n_classes %u outside 1..16", nc);
    sp->classes = nc;
    for (k = 0; k + 1 < nc; k++) {
        uint64_t v;
        at = c->pos;
        if ((s = dcf__varint(c, "class_min", &v))) return s;
        if (v < 1 || (k && v <= sp->class_min[k - 1]))
            return DCF__FAIL(c, DCF_E_SPARSE_INDEX, "class_min", at, "class_min[%u] = %llu is not >= 1 and increasing", k, (unsigned long long)v);
        sp->class_min[k] = v;
    }
    for (r = 0; r < t->rows; r++) {
        unsigned cl = dcf__class_of(sp, sp->counts[r]);
        rows_c[cl]++;
        sp->nnz_c[cl] += sp->counts[r];
    }
    F = ((uint64_t)1 << qh->b) - 1;
    for (k = 0; k < nc; k++) {
        uint64_t fillers, cap;
        char what[24];
        at = c->pos;
        if ((s = dcf__varint(c, "n_fillers", &fillers))) return s;
        cap = rows_c[k] * t->cols; /* <= numel */
        if (fillers > (cap - sp->nnz_c[k]) / F)
            return DCF__FAIL(c, DCF_E_SPARSE_INDEX, "n_fillers", at, "class %u: %llu fillers cannot fit in its rows", k, (unsigned long long)fillers);
        sp->gap_n[k] = sp->nnz_c[k] + fillers;
        sp->gap_at[k] = c->pos;
        snprintf(what, sizeof what, "gaps[%u]", k);
        if ((s = dcf__stream(f, c, sp->gap_n[k], (uint64_t)1 << qh->b, what, 0, NULL, &syms))) return s;
        sp->gaps[k] = (uint16_t *)syms;
        { /* the stream holds exactly nnz_c entries and ends with one (a filler precedes an entry of its row) */
            uint64_t i, zeros = 0, n = sp->gap_n[k];
            const uint16_t *g = sp->gaps[k];
            for (i = 0; i < n; i++) zeros += g[i] == 0;
            if (zeros != fillers)
                return DCF__FAIL(c, DCF_E_SPARSE_INDEX, what, sp->gap_at[k], "class %u: %llu entries in its gap stream, its rows own %llu", k, (unsigned long long)(n - zeros), (unsigned long long)sp->nnz_c[k]);
            if (n && g[n - 1] == 0)
                return DCF__FAIL(c, DCF_E_SPARSE_INDEX, what, sp->gap_at[k], "class %u: its gap stream ends with a filler", k);
        }
    }
    if (csr) { /* CSR: the value symbols are the codes array itself */
        csr->codes = (uint16_t *)dcf__alloc_n(f, sp->nnz, 2);
        if (!csr->codes) return DCF__FAIL(c, DCF_E_LIMIT, "values", c->pos, "cannot allocate %llu codes", (unsigned long long)sp->nnz);
        sp->values_borrowed = 1;
    }
    if ((s = dcf__stream(f, c, sp->nnz, qh->K ? qh->K : 1, "values", 0, csr ? csr->codes : NULL, &syms))) return s;
    sp->values = (uint16_t *)syms;
    return dcf__end(c);
}

/* Walk the gaps row by row; for each entry call the sink. SINK(row, col, j) with j the entry number. */
#define DCF__WALK(SINK)                                                                                             \
    do {                                                                                                            \
        uint64_t r_, j_ = 0, F_ = ((uint64_t)1 << qh->b) - 1, cols_ = t->cols;                                      \
        const uint16_t *p_[16], *e_[16];                                                                            \
        unsigned k_;                                                                                                \
        for (k_ = 0; k_ < sp->classes; k_++) { p_[k_] = e_[k_] = sp->gaps[k_]; if (p_[k_]) e_[k_] += sp->gap_n[k_]; } \
        for (r_ = 0; r_ < t->rows; r_++) {                                                                          \
            uint32_t cnt_ = sp->counts[r_];                                                                         \
            unsigned cl_;                                                                                           \
            const uint16_t *p, *e;                                                                                  \
            uint64_t cur_ = 0;                                                                                      \
            if (!cnt_) continue;                                                                                    \
            cl_ = sp->classes == 1 ? 0 : dcf__class_of(sp, cnt_);                                                   \
            p = p_[cl_]; e = e_[cl_];                                                                               \
            if ((uint64_t)(e - p) < cnt_) { s = DCF__FAIL(c, DCF_E_SPARSE_INDEX, "gaps", sp->gap_at[cl_], "row %llu: class %u's gap stream ends early", (unsigned long long)r_, cl_); goto walk_fail; } \
            while (cnt_) {                                                                                          \
                uint32_t g_ = *p++; /* in bounds: the stream holds nnz_c entries and ends with one */             \
                if (g_) {                                                                                           \
                    uint64_t col_ = cur_ + g_ - 1;                                                                  \
                    if (col_ >= cols_) { s = DCF__FAIL(c, DCF_E_SPARSE_INDEX, "gaps", sp->gap_at[cl_], "row %llu: column %llu >= %llu", (unsigned long long)r_, (unsigned long long)col_, (unsigned long long)cols_); goto walk_fail; } \
                    SINK(r_, col_, j_);                                                                             \
                    j_++;                                                                                           \
                    cur_ = col_ + 1;                                                                                \
                    cnt_--;                                                                                         \
                } else {                                                                                            \
                    cur_ += F_;                                                                                     \
                    if (cur_ >= cols_) { s = DCF__FAIL(c, DCF_E_SPARSE_INDEX, "gaps", sp->gap_at[cl_], "row %llu: fillers run past column %llu", (unsigned long long)r_, (unsigned long long)cols_); goto walk_fail; } \
                }                                                                                                   \
            }                                                                                                       \
            p_[cl_] = p;                                                                                            \
        }                                                                                                           \
        for (k_ = 0; k_ < sp->classes; k_++)                                                                        \
            if (p_[k_] != e_[k_]) { s = DCF__FAIL(c, DCF_E_SPARSE_INDEX, "gaps", sp->gap_at[k_], "class %u: %llu gap symbols left after its rows' entries (extra entries or trailing fillers)", k_, (unsigned long long)(e_[k_] - p_[k_])); goto walk_fail; } \
    } while (0)

static dcf_status dcf__tensor_begin(const dcf_file *f, size_t index, dcf__cur *c, dcf_error *err, const dcf_tensor_info **t) {
    dcf__ok(err);
    if (!f || index >= f->count) return dcf__fail(err, DCF_E_ARGUMENT, NULL, "", 0, 0, "no tensor %llu", (unsigned long long)index);
    *t = &f->tensors[index];
    c->base = f->data;
    c->pos = (*t)->payload_offset;
    c->end = (*t)->payload_offset + (*t)->payload_len;
    c->tensor = (*t)->name;
    c->err = err;
    return DCF_OK;
}

dcf_status dcf_decode_dense(const dcf_file *f, size_t index, void *out_v, size_t out_size, dcf_error *err) {
    const dcf_tensor_info *t;
    dcf__cur cc, *c = &cc;
    dcf__quant *qh = NULL;
    dcf_status s;
    uint8_t *out = (uint8_t *)out_v;
    if ((s = dcf__tensor_begin(f, index, c, err, &t))) return s;
    if (out_size < t->nbytes || (!out && t->nbytes)) return dcf__fail(err, DCF_E_ARGUMENT, t->name, "", 0, 0, "output buffer of %llu bytes < %llu", (unsigned long long)out_size, (unsigned long long)t->nbytes);
    if (t->encoding == DCF_RAW) return dcf__raw(f, c, t, out);
    qh = (dcf__quant *)dcf__alloc(f, sizeof *qh);
    if (!qh) return DCF__FAIL(c, DCF_E_LIMIT, "payload", c->pos, "allocation failed");
    if (t->encoding == DCF_DENSE) {
        uint16_t *vals = NULL;
        void *syms;
        uint64_t i, n = t->numel;
        if ((s = dcf__quant_head(c, t, qh))) goto out;
        if (qh->K == 0 && n) { s = DCF__FAIL(c, DCF_E_CODEBOOK, "codebook_size", qh->at_codebook, "K = 0 for %llu elements", (unsigned long long)n); goto out; }
        if ((s = dcf__stream(f, c, n, qh->K ? qh->K : 1, "values", 0, NULL, &syms))) goto out;
        vals = (uint16_t *)syms;
        if ((s = dcf__end(c))) { dcf__release(f, vals); goto out; }
        if (t->dtype == DCF_FLOAT32) { const float *lut = qh->lut.f32; dcf__cb_convert(qh, t->dtype, qh->lut.f32); for (i = 0; i < n; i++) ((float *)out)[i] = lut[vals[i]]; }
        else if (t->dtype == DCF_FLOAT64) { double *o = (double *)out; for (i = 0; i < n; i++) o[i] = (double)qh->cb[vals[i]]; }
        else { const uint16_t *lut = qh->lut.f16; dcf__cb_convert(qh, t->dtype, qh->lut.f16); for (i = 0; i < n; i++) ((uint16_t *)out)[i] = lut[vals[i]]; }
        dcf__release(f, vals);
    } else {
        dcf__sparse spv, *sp = &spv;
        if ((s = dcf__sparse_read(f, c, t, qh, sp, NULL))) { dcf__sparse_free(f, sp); goto out; }
        if (t->nbytes) memset(out, 0, (size_t)t->nbytes);
        if (t->dtype == DCF_FLOAT32) {
            float *o = (float *)out;
            const float *lut = qh->lut.f32;
            const uint16_t *v = sp->values;
            dcf__cb_convert(qh, t->dtype, qh->lut.f32);
#define DCF__SINK_F32(r, col, j) o[(r) * cols_ + (col)] = lut[v[j]]
            DCF__WALK(DCF__SINK_F32);
        } else if (t->dtype == DCF_FLOAT64) {
            double *o = (double *)out;
            const uint16_t *v = sp->values;
#define DCF__SINK_F64(r, col, j) o[(r) * cols_ + (col)] = (double)qh->cb[v[j]]
            DCF__WALK(DCF__SINK_F64);
        } else {
            uint16_t *o = (uint16_t *)out;
            const uint16_t *lut = qh->lut.f16;
            const uint16_t *v = sp->values;
            dcf__cb_convert(qh, t->dtype, qh->lut.f16);
#define DCF__SINK_F16(r, col, j) o[(r) * cols_ + (col)] = lut[v[j]]
            DCF__WALK(DCF__SINK_F16);
        }
        s = DCF_OK;
    walk_fail:
        dcf__sparse_free(f, sp);
    }
out:
    dcf__release(f, qh);
    return s;
}

void dcf_csr_free(const dcf_file *f, dcf_csr *csr) {
    if (!csr) return;
    dcf__release(f, csr->indptr);
    dcf__release(f, csr->indices);
    dcf__release(f, csr->codes);
    dcf__release(f, csr->codebook);
    memset(csr, 0, sizeof *csr);
}

dcf_status dcf_decode_csr(const dcf_file *f, size_t index, dcf_csr *csr, dcf_error *err) {
    const dcf_tensor_info *t;
    dcf__cur cc, *c = &cc;
    dcf__quant *qh = NULL;
    dcf_status s;
    uint64_t r, i;
    if (!csr) return dcf__fail(err, DCF_E_ARGUMENT, NULL, "", 0, 0, "NULL csr");
    memset(csr, 0, sizeof *csr);
    if ((s = dcf__tensor_begin(f, index, c, err, &t))) return s;
    if (t->encoding == DCF_RAW) return dcf__fail(err, DCF_E_ARGUMENT, t->name, "encoding", 0, 0, "a RAW tensor has no codebook: use dcf_decode_dense");
    csr->rows = t->rows; csr->cols = t->cols; csr->dtype = t->dtype;
    qh = (dcf__quant *)dcf__alloc(f, sizeof *qh);
    if (!qh) return DCF__FAIL(c, DCF_E_LIMIT, "payload", c->pos, "allocation failed");
    if (t->encoding == DCF_DENSE) {
        uint16_t *vals = NULL;
        void *syms;
        uint64_t n = t->numel, nnz = 0, j = 0;
        uint8_t *nonzero = qh->nonzero;
        if ((s = dcf__quant_head(c, t, qh))) goto out;
        if (qh->K == 0 && n) { s = DCF__FAIL(c, DCF_E_CODEBOOK, "codebook_size", qh->at_codebook, "K = 0 for %llu elements", (unsigned long long)n); goto out; }
        if ((s = dcf__stream(f, c, n, qh->K ? qh->K : 1, "values", 0, NULL, &syms))) goto out;
        vals = (uint16_t *)syms;
        if ((s = dcf__end(c))) { dcf__release(f, vals); goto out; }
        for (i = 0; i < qh->K; i++) /* zero in the tensor's dtype (a float16 underflow is zero too) */
            nonzero[i] = (uint8_t)(t->dtype == DCF_FLOAT16 ? (dcf__f16(qh->cb[i]) & 0x7FFFu) != 0 : qh->cb[i] != 0.0f);
        for (i = 0; i < n; i++) nnz += nonzero[vals[i]];
        csr->nnz = nnz;
        csr->indptr = (uint64_t *)dcf__alloc_n(f, t->rows + 1, 8);
        csr->indices = (uint32_t *)dcf__alloc_n(f, nnz, 4);
        csr->codes = (uint16_t *)dcf__alloc_n(f, nnz, 2);
        if (!csr->indptr || !csr->indices || !csr->codes) { dcf__release(f, vals); s = DCF__FAIL(c, DCF_E_LIMIT, "payload", c->pos, "allocation failed"); goto out; }
        csr->indptr[0] = 0;
        for (r = 0; r < t->rows; r++) {
            uint64_t col;
            for (col = 0; col < t->cols; col++) {
                uint16_t v = vals[r * t->cols + col];
                if (nonzero[v]) { csr->indices[j] = (uint32_t)col; csr->codes[j] = (uint16_t)v; j++; }
            }
            csr->indptr[r + 1] = j;
        }
        dcf__release(f, vals);
    } else {
        dcf__sparse spv, *sp = &spv;
        uint32_t *idx;
        if ((s = dcf__sparse_read(f, c, t, qh, sp, csr))) { dcf__sparse_free(f, sp); goto out; }
        csr->nnz = sp->nnz;
        csr->indptr = (uint64_t *)dcf__alloc_n(f, t->rows + 1, 8);
        csr->indices = (uint32_t *)dcf__alloc_n(f, sp->nnz, 4);
        if (!csr->indptr || !csr->indices) { dcf__sparse_free(f, sp); s = DCF__FAIL(c, DCF_E_LIMIT, "payload", c->pos, "allocation failed"); goto out; }
        csr->indptr[0] = 0;
        for (r = 0; r < t->rows; r++) csr->indptr[r + 1] = csr->indptr[r] + sp->counts[r];
        idx = csr->indices;
#define DCF__SINK_CSR(r, col, j) (idx[j] = (uint32_t)(col))
        DCF__WALK(DCF__SINK_CSR);
        s = DCF_OK;
    walk_fail:
        dcf__sparse_free(f, sp);
        if (s) goto out;
    }
    csr->codebook_size = (uint32_t)qh->K;
    csr->codebook = (float *)dcf__alloc(f, qh->K * 4 + 4);
    if (!csr->codebook) { s = DCF__FAIL(c, DCF_E_LIMIT, "codebook", qh->at_codebook, "allocation failed"); goto out; }
    if (qh->K) memcpy(csr->codebook, qh->cb, (size_t)qh->K * 4);
    s = DCF_OK;
out:
    if (s) dcf_csr_free(f, csr);
    dcf__release(f, qh);
    return s;
}

dcf_status dcf_verify(const dcf_file *f, dcf_error *err) {
    size_t i;
    dcf__ok(err);
    if (!f) return dcf__fail(err, DCF_E_ARGUMENT, NULL, "", 0, 0, "NULL file");
    for (i = 0; i < f->count; i++) {
        const dcf_tensor_info *t = &f->tensors[i];
        void *buf = dcf__alloc(f, t->nbytes ? t->nbytes : 1);
        dcf_status s;
        if (!buf) return dcf__fail(err, DCF_E_LIMIT, t->name, "payload", 1, t->payload_offset, "cannot allocate %llu bytes", (unsigned long long)t->nbytes);
        s = dcf_decode_dense(f, i, buf, (size_t)t->nbytes, err);
        dcf__release(f, buf);
        if (s) return s;
    }
    return DCF_OK;
}

#endif /* DCFORMAT_IMPLEMENTATION_DONE */
#endif /* DCFORMAT_IMPLEMENTATION */

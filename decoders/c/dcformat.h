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
    DCF_E_GRAPH,               /* [Graph]: the GRPH payload against GRAPH.md §2-§4 (syntax, schema, ops, names) */
    DCF_E_ZSTD_UNSUPPORTED,    /* a valid-looking zstd RAW tensor, but built without DCFORMAT_WITH_ZSTD */
    DCF_E_ARGUMENT,            /* API misuse: bad index, output buffer too small, RAW tensor asked for CSR */
    DCF_E_IO,                  /* dcf_open_path: the file could not be read */
    DCF_E_RANS_TABLE           /* [RansTable] (format 1.1, §6.1): appended so that the codes above keep their values */
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

/* A second thread for dcf_decode_dense_threads: start(self, fn, arg) runs fn(arg) on another thread and returns
 * non-zero, or returns 0 (nothing started: the work then runs on the calling thread); join(self) waits for the
 * started fn. At most one fn is started at a time.
 * populate (optional, NULL: none; used only by dcf_decode_payload_dense_threads with out_is_zero): make the pages of
 * [addr, addr + len) present and writable without changing a byte (Linux: madvise MADV_POPULATE_WRITE on the pages
 * inside the range), safe while other threads write there. The second thread runs it on the output rows while the
 * first decodes two HUFFMAN streams, so that the row walk afterwards finds its pages faulted in (see
 * dcf__sparse_read for which rows). */
typedef struct {
    int (*start)(void *self, void (*fn)(void *), void *arg);
    void (*join)(void *self);
    void *self;
    void (*populate)(void *self, void *addr, size_t len);
} dcf_threads;

void dcf_default_limits(dcf_limits *limits);
size_t dcf_dtype_size(dcf_dtype dtype);
const char *dcf_status_name(dcf_status code); /* "BadMagic", "Truncated", ... (the spec's class names) */

/* Parse and validate the container: preamble, every section's framing and CRC, the tensor table, META's size and JSON
 * syntax, the GRPH graph against spec/GRAPH.md §2-§4 (strict JSON, structure, names, ops, attributes, arity, stored
 * tensors, definition before use), shape and size limits. `data` must stay alive and unchanged until dcf_close. limits/alloc/err may be
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
/* Raw META / GRPH payloads (UTF-8 JSON, CRC-verified; META syntax-checked, GRPH schema-validated); NULL, 0 if absent. */
const uint8_t *dcf_metadata(const dcf_file *file, size_t *len);
const uint8_t *dcf_graph(const dcf_file *file, size_t *len);

/* Decode tensor `index` into `out` (`out_size` >= info->nbytes bytes): native-endian elements of its dtype, C order. */
dcf_status dcf_decode_dense(const dcf_file *file, size_t index, void *out, size_t out_size, dcf_error *err);
/* Same result, status and message, with the work of a SPARSE float32 tensor shared with a second thread (`threads`;
 * NULL: one thread): its last gap stream and its value stream are decoded at the same time (unless both are HUFFMAN:
 * those one thread decodes interleaved), then rows [0, rows / 2) and [rows / 2, rows) are written at the same time (each half from the state the row walk has there). Pays off
 * for large outputs, whose first-touch page faults are most of the cost; other tensors decode as dcf_decode_dense. */
dcf_status dcf_decode_dense_threads(const dcf_file *file, size_t index, void *out, size_t out_size,
                                    const dcf_threads *threads, dcf_error *err);
/* CSR of a DENSE or SPARSE tensor seen as rows x cols (SPARSE: straight from the streams, never numel elements;
 * DENSE: the elements whose value is not zero). Arrays come from the file's allocator; free with dcf_csr_free. */
dcf_status dcf_decode_csr(const dcf_file *file, size_t index, dcf_csr *out, dcf_error *err);
void dcf_csr_free(const dcf_file *file, dcf_csr *csr);
/* Decode every tensor (one at a time, freed again): the whole file is valid iff this returns DCF_OK. */
dcf_status dcf_verify(const dcf_file *file, dcf_error *err);

/* One tensor's DATA payload on its own (spec §5), for a host that walked the container itself (the Python package's
 * compiled decoder, dcformat/_cdecode.c): `payload` holds the payload's `len` bytes (the caller has verified its
 * section CRC); dtype, encoding and shape (`ndim` dimensions) are the tensor's table entry; `name` (may be NULL) is
 * used in messages; `file_flags` is the file's header `flags` field (bit 0, RANS_STREAMS, allows RANS streams:
 * §2.2, §6.1.1 check 1; the caller has checked the preamble). Same checks and results as dcf_decode_dense /
 * dcf_decode_csr on a file holding this one tensor, under the per-tensor limits of `limits` (NULL: defaults); error
 * offsets are relative to the payload. The CSR arrays
 * come from malloc (DCF_MALLOC): free them with dcf_csr_free(NULL, csr). `out_is_zero`: the caller's buffer is already all zero
 * bits (fresh pages from calloc/mmap), so a SPARSE tensor's zeros are not written a second time. */
dcf_status dcf_decode_payload_dense(const void *payload, size_t len, const char *name, dcf_dtype dtype,
                                    dcf_encoding encoding, uint32_t ndim, const uint64_t *shape, uint32_t file_flags,
                                    const dcf_limits *limits, void *out, size_t out_size, int out_is_zero,
                                    dcf_error *err);
dcf_status dcf_decode_payload_csr(const void *payload, size_t len, const char *name, dcf_dtype dtype,
                                  dcf_encoding encoding, uint32_t ndim, const uint64_t *shape, uint32_t file_flags,
                                  const dcf_limits *limits, dcf_csr *out, dcf_error *err);
/* dcf_decode_payload_dense with a second thread (dcf_decode_dense_threads; NULL: one thread). With out_is_zero and
 * threads->populate, the second thread populates the output rows' pages while the first decodes two HUFFMAN streams
 * (dcf_threads). */
dcf_status dcf_decode_payload_dense_threads(const void *payload, size_t len, const char *name, dcf_dtype dtype,
                                            dcf_encoding encoding, uint32_t ndim, const uint64_t *shape,
                                            uint32_t file_flags, const dcf_limits *limits, void *out, size_t out_size,
                                            int out_is_zero, const dcf_threads *threads, dcf_error *err);

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

/* DCF_TRACE(label): a time stamp at the phases of a SPARSE float32 dense decode on one or two threads (labels "A: ..."
 * on the calling thread, "B: ..." on the second); none unless defined before including (benchmarks/bench_c_decode.py
 * --timeline). */
#ifndef DCF_TRACE
#define DCF_TRACE(label) ((void)0)
#endif

#define DCF_MAX_CODE_LEN 24
#define DCF_FLAG_RANS_STREAMS 1u  /* header flag bit 0 (§2.2) */
#define DCF_RANS_L 65536u         /* the lower bound of a rANS state (§6.1) */
#define DCF_RANS_MAX_RATIO 4096u  /* MAX_RANS_RATIO: symbols per stream byte (§6.1.1 check 5, §9) */
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
    uint32_t flags;            /* header flags; bit 0 (RANS_STREAMS) allows RANS streams (§2.2, §6.1.1 check 1) */
};

/* ---- small helpers ------------------------------------------------------------------------------------------- */

/* The default allocator (no dcf_allocator given, and the payload entry points): malloc/free, unless the including
 * file defines DCF_MALLOC(size) and DCF_FREE(ptr) before DCFORMAT_IMPLEMENTATION (both or neither; the Python
 * extension backs large scratch arrays with huge pages this way). */
#ifndef DCF_MALLOC
#define DCF_MALLOC(size) malloc(size)
#define DCF_FREE(ptr) free(ptr)
#endif
static void *dcf__malloc(void *user, size_t size) { (void)user; return DCF_MALLOC(size ? size : 1); }
static void dcf__free(void *user, void *ptr) { (void)user; DCF_FREE(ptr); }

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
                                        "ZstdUnsupported", "Argument", "IO", "RansTable"};
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

/* CRC-32 (ISO-HDLC, as zlib.crc32), slicing by 8: table 0 is the byte table of polynomial 0xEDB88320, table k
 * the CRC of a byte followed by k zero bytes (generated once, as zlib does). */
static const uint32_t dcf__crc_t[8][256] = {
    {
     0x00000000,0x77073096,0xEE0E612C,0x990951BA,0x076DC419,0x706AF48F,0xE963A535,0x9E6495A3,0x0EDB8832,0x79DCB8A4,
     0xE0D5E91E,0x97D2D988,0x09B64C2B,0x7EB17CBD,0xE7B82D07,0x90BF1D91,0x1DB71064,0x6AB020F2,0xF3B97148,0x84BE41DE,
     0x1ADAD47D,0x6DDDE4EB,0xF4D4B551,0x83D385C7,0x136C9856,0x646BA8C0,0xFD62F97A,0x8A65C9EC,0x14015C4F,0x63066CD9,
     0xFA0F3D63,0x8D080DF5,0x3B6E20C8,0x4C69105E,0xD56041E4,0xA2677172,0x3C03E4D1,0x4B04D447,0xD20D85FD,0xA50AB56B,
     0x35B5A8FA,0x42B2986C,0xDBBBC9D6,0xACBCF940,0x32D86CE3,0x45DF5C75,0xDCD60DCF,0xABD13D59,0x26D930AC,0x51DE003A,
     0xC8D75180,0xBFD06116,0x21B4F4B5,0x56B3C423,0xCFBA9599,0xB8BDA50F,0x2802B89E,0x5F058808,0xC60CD9B2,0xB10BE924,
     0x2F6F7C87,0x58684C11,0xC1611DAB,0xB6662D3D,0x76DC4190,0x01DB7106,0x98D220BC,0xEFD5102A,0x71B18589,0x06B6B51F,
     0x9FBFE4A5,0xE8B8D433,0x7807C9A2,0x0F00F934,0x9609A88E,0xE10E9818,0x7F6A0DBB,0x086D3D2D,0x91646C97,0xE6635C01,
     0x6B6B51F4,0x1C6C6162,0x856530D8,0xF262004E,0x6C0695ED,0x1B01A57B,0x8208F4C1,0xF50FC457,0x65B0D9C6,0x12B7E950,
     0x8BBEB8EA,0xFCB9887C,0x62DD1DDF,0x15DA2D49,0x8CD37CF3,0xFBD44C65,0x4DB26158,0x3AB551CE,0xA3BC0074,0xD4BB30E2,
     0x4ADFA541,0x3DD895D7,0xA4D1C46D,0xD3D6F4FB,0x4369E96A,0x346ED9FC,0xAD678846,0xDA60B8D0,0x44042D73,0x33031DE5,
     0xAA0A4C5F,0xDD0D7CC9,0x5005713C,0x270241AA,0xBE0B1010,0xC90C2086,0x5768B525,0x206F85B3,0xB966D409,0xCE61E49F,
     0x5EDEF90E,0x29D9C998,0xB0D09822,0xC7D7A8B4,0x59B33D17,0x2EB40D81,0xB7BD5C3B,0xC0BA6CAD,0xEDB88320,0x9ABFB3B6,
     0x03B6E20C,0x74B1D29A,0xEAD54739,0x9DD277AF,0x04DB2615,0x73DC1683,0xE3630B12,0x94643B84,0x0D6D6A3E,0x7A6A5AA8,
     0xE40ECF0B,0x9309FF9D,0x0A00AE27,0x7D079EB1,0xF00F9344,0x8708A3D2,0x1E01F268,0x6906C2FE,0xF762575D,0x806567CB,
     0x196C3671,0x6E6B06E7,0xFED41B76,0x89D32BE0,0x10DA7A5A,0x67DD4ACC,0xF9B9DF6F,0x8EBEEFF9,0x17B7BE43,0x60B08ED5,
     0xD6D6A3E8,0xA1D1937E,0x38D8C2C4,0x4FDFF252,0xD1BB67F1,0xA6BC5767,0x3FB506DD,0x48B2364B,0xD80D2BDA,0xAF0A1B4C,
     0x36034AF6,0x41047A60,0xDF60EFC3,0xA867DF55,0x316E8EEF,0x4669BE79,0xCB61B38C,0xBC66831A,0x256FD2A0,0x5268E236,
     0xCC0C7795,0xBB0B4703,0x220216B9,0x5505262F,0xC5BA3BBE,0xB2BD0B28,0x2BB45A92,0x5CB36A04,0xC2D7FFA7,0xB5D0CF31,
     0x2CD99E8B,0x5BDEAE1D,0x9B64C2B0,0xEC63F226,0x756AA39C,0x026D930A,0x9C0906A9,0xEB0E363F,0x72076785,0x05005713,
     0x95BF4A82,0xE2B87A14,0x7BB12BAE,0x0CB61B38,0x92D28E9B,0xE5D5BE0D,0x7CDCEFB7,0x0BDBDF21,0x86D3D2D4,0xF1D4E242,
     0x68DDB3F8,0x1FDA836E,0x81BE16CD,0xF6B9265B,0x6FB077E1,0x18B74777,0x88085AE6,0xFF0F6A70,0x66063BCA,0x11010B5C,
     0x8F659EFF,0xF862AE69,0x616BFFD3,0x166CCF45,0xA00AE278,0xD70DD2EE,0x4E048354,0x3903B3C2,0xA7672661,0xD06016F7,
     0x4969474D,0x3E6E77DB,0xAED16A4A,0xD9D65ADC,0x40DF0B66,0x37D83BF0,0xA9BCAE53,0xDEBB9EC5,0x47B2CF7F,0x30B5FFE9,
     0xBDBDF21C,0xCABAC28A,0x53B39330,0x24B4A3A6,0xBAD03605,0xCDD70693,0x54DE5729,0x23D967BF,0xB3667A2E,0xC4614AB8,
     0x5D681B02,0x2A6F2B94,0xB40BBE37,0xC30C8EA1,0x5A05DF1B,0x2D02EF8D},
    {
     0x00000000,0x191B3141,0x32366282,0x2B2D53C3,0x646CC504,0x7D77F445,0x565AA786,0x4F4196C7,0xC8D98A08,0xD1C2BB49,
     0xFAEFE88A,0xE3F4D9CB,0xACB54F0C,0xB5AE7E4D,0x9E832D8E,0x87981CCF,0x4AC21251,0x53D92310,0x78F470D3,0x61EF4192,
     0x2EAED755,0x37B5E614,0x1C98B5D7,0x05838496,0x821B9859,0x9B00A918,0xB02DFADB,0xA936CB9A,0xE6775D5D,0xFF6C6C1C,
     0xD4413FDF,0xCD5A0E9E,0x958424A2,0x8C9F15E3,0xA7B24620,0xBEA97761,0xF1E8E1A6,0xE8F3D0E7,0xC3DE8324,0xDAC5B265,
     0x5D5DAEAA,0x44469FEB,0x6F6BCC28,0x7670FD69,0x39316BAE,0x202A5AEF,0x0B07092C,0x121C386D,0xDF4636F3,0xC65D07B2,
     0xED705471,0xF46B6530,0xBB2AF3F7,0xA231C2B6,0x891C9175,0x9007A034,0x179FBCFB,0x0E848DBA,0x25A9DE79,0x3CB2EF38,
     0x73F379FF,0x6AE848BE,0x41C51B7D,0x58DE2A3C,0xF0794F05,0xE9627E44,0xC24F2D87,0xDB541CC6,0x94158A01,0x8D0EBB40,
     0xA623E883,0xBF38D9C2,0x38A0C50D,0x21BBF44C,0x0A96A78F,0x138D96CE,0x5CCC0009,0x45D73148,0x6EFA628B,0x77E153CA,
     0xBABB5D54,0xA3A06C15,0x888D3FD6,0x91960E97,0xDED79850,0xC7CCA911,0xECE1FAD2,0xF5FACB93,0x7262D75C,0x6B79E61D,
     0x4054B5DE,0x594F849F,0x160E1258,0x0F152319,0x243870DA,0x3D23419B,0x65FD6BA7,0x7CE65AE6,0x57CB0925,0x4ED03864,
     0x0191AEA3,0x188A9FE2,0x33A7CC21,0x2ABCFD60,0xAD24E1AF,0xB43FD0EE,0x9F12832D,0x8609B26C,0xC94824AB,0xD05315EA,
     0xFB7E4629,0xE2657768,0x2F3F79F6,0x362448B7,0x1D091B74,0x04122A35,0x4B53BCF2,0x52488DB3,0x7965DE70,0x607EEF31,
     0xE7E6F3FE,0xFEFDC2BF,0xD5D0917C,0xCCCBA03D,0x838A36FA,0x9A9107BB,0xB1BC5478,0xA8A76539,0x3B83984B,0x2298A90A,
     0x09B5FAC9,0x10AECB88,0x5FEF5D4F,0x46F46C0E,0x6DD93FCD,0x74C20E8C,0xF35A1243,0xEA412302,0xC16C70C1,0xD8774180,
     0x9736D747,0x8E2DE606,0xA500B5C5,0xBC1B8484,0x71418A1A,0x685ABB5B,0x4377E898,0x5A6CD9D9,0x152D4F1E,0x0C367E5F,
     0x271B2D9C,0x3E001CDD,0xB9980012,0xA0833153,0x8BAE6290,0x92B553D1,0xDDF4C516,0xC4EFF457,0xEFC2A794,0xF6D996D5,
     0xAE07BCE9,0xB71C8DA8,0x9C31DE6B,0x852AEF2A,0xCA6B79ED,0xD37048AC,0xF85D1B6F,0xE1462A2E,0x66DE36E1,0x7FC507A0,
     0x54E85463,0x4DF36522,0x02B2F3E5,0x1BA9C2A4,0x30849167,0x299FA026,0xE4C5AEB8,0xFDDE9FF9,0xD6F3CC3A,0xCFE8FD7B,
     0x80A96BBC,0x99B25AFD,0xB29F093E,0xAB84387F,0x2C1C24B0,0x350715F1,0x1E2A4632,0x07317773,0x4870E1B4,0x516BD0F5,
     0x7A468336,0x635DB277,0xCBFAD74E,0xD2E1E60F,0xF9CCB5CC,0xE0D7848D,0xAF96124A,0xB68D230B,0x9DA070C8,0x84BB4189,
     0x03235D46,0x1A386C07,0x31153FC4,0x280E0E85,0x674F9842,0x7E54A903,0x5579FAC0,0x4C62CB81,0x8138C51F,0x9823F45E,
     0xB30EA79D,0xAA1596DC,0xE554001B,0xFC4F315A,0xD7626299,0xCE7953D8,0x49E14F17,0x50FA7E56,0x7BD72D95,0x62CC1CD4,
     0x2D8D8A13,0x3496BB52,0x1FBBE891,0x06A0D9D0,0x5E7EF3EC,0x4765C2AD,0x6C48916E,0x7553A02F,0x3A1236E8,0x230907A9,
     0x0824546A,0x113F652B,0x96A779E4,0x8FBC48A5,0xA4911B66,0xBD8A2A27,0xF2CBBCE0,0xEBD08DA1,0xC0FDDE62,0xD9E6EF23,
     0x14BCE1BD,0x0DA7D0FC,0x268A833F,0x3F91B27E,0x70D024B9,0x69CB15F8,0x42E6463B,0x5BFD777A,0xDC656BB5,0xC57E5AF4,
     0xEE530937,0xF7483876,0xB809AEB1,0xA1129FF0,0x8A3FCC33,0x9324FD72},
    {
     0x00000000,0x01C26A37,0x0384D46E,0x0246BE59,0x0709A8DC,0x06CBC2EB,0x048D7CB2,0x054F1685,0x0E1351B8,0x0FD13B8F,
     0x0D9785D6,0x0C55EFE1,0x091AF964,0x08D89353,0x0A9E2D0A,0x0B5C473D,0x1C26A370,0x1DE4C947,0x1FA2771E,0x1E601D29,
     0x1B2F0BAC,0x1AED619B,0x18ABDFC2,0x1969B5F5,0x1235F2C8,0x13F798FF,0x11B126A6,0x10734C91,0x153C5A14,0x14FE3023,
     0x16B88E7A,0x177AE44D,0x384D46E0,0x398F2CD7,0x3BC9928E,0x3A0BF8B9,0x3F44EE3C,0x3E86840B,0x3CC03A52,0x3D025065,
     0x365E1758,0x379C7D6F,0x35DAC336,0x3418A901,0x3157BF84,0x3095D5B3,0x32D36BEA,0x331101DD,0x246BE590,0x25A98FA7,
     0x27EF31FE,0x262D5BC9,0x23624D4C,0x22A0277B,0x20E69922,0x2124F315,0x2A78B428,0x2BBADE1F,0x29FC6046,0x283E0A71,
     0x2D711CF4,0x2CB376C3,0x2EF5C89A,0x2F37A2AD,0x709A8DC0,0x7158E7F7,0x731E59AE,0x72DC3399,0x7793251C,0x76514F2B,
     0x7417F172,0x75D59B45,0x7E89DC78,0x7F4BB64F,0x7D0D0816,0x7CCF6221,0x798074A4,0x78421E93,0x7A04A0CA,0x7BC6CAFD,
     0x6CBC2EB0,0x6D7E4487,0x6F38FADE,0x6EFA90E9,0x6BB5866C,0x6A77EC5B,0x68315202,0x69F33835,0x62AF7F08,0x636D153F,
     0x612BAB66,0x60E9C151,0x65A6D7D4,0x6464BDE3,0x662203BA,0x67E0698D,0x48D7CB20,0x4915A117,0x4B531F4E,0x4A917579,
     0x4FDE63FC,0x4E1C09CB,0x4C5AB792,0x4D98DDA5,0x46C49A98,0x4706F0AF,0x45404EF6,0x448224C1,0x41CD3244,0x400F5873,
     0x4249E62A,0x438B8C1D,0x54F16850,0x55330267,0x5775BC3E,0x56B7D609,0x53F8C08C,0x523AAABB,0x507C14E2,0x51BE7ED5,
     0x5AE239E8,0x5B2053DF,0x5966ED86,0x58A487B1,0x5DEB9134,0x5C29FB03,0x5E6F455A,0x5FAD2F6D,0xE1351B80,0xE0F771B7,
     0xE2B1CFEE,0xE373A5D9,0xE63CB35C,0xE7FED96B,0xE5B86732,0xE47A0D05,0xEF264A38,0xEEE4200F,0xECA29E56,0xED60F461,
     0xE82FE2E4,0xE9ED88D3,0xEBAB368A,0xEA695CBD,0xFD13B8F0,0xFCD1D2C7,0xFE976C9E,0xFF5506A9,0xFA1A102C,0xFBD87A1B,
     0xF99EC442,0xF85CAE75,0xF300E948,0xF2C2837F,0xF0843D26,0xF1465711,0xF4094194,0xF5CB2BA3,0xF78D95FA,0xF64FFFCD,
     0xD9785D60,0xD8BA3757,0xDAFC890E,0xDB3EE339,0xDE71F5BC,0xDFB39F8B,0xDDF521D2,0xDC374BE5,0xD76B0CD8,0xD6A966EF,
     0xD4EFD8B6,0xD52DB281,0xD062A404,0xD1A0CE33,0xD3E6706A,0xD2241A5D,0xC55EFE10,0xC49C9427,0xC6DA2A7E,0xC7184049,
     0xC25756CC,0xC3953CFB,0xC1D382A2,0xC011E895,0xCB4DAFA8,0xCA8FC59F,0xC8C97BC6,0xC90B11F1,0xCC440774,0xCD866D43,
     0xCFC0D31A,0xCE02B92D,0x91AF9640,0x906DFC77,0x922B422E,0x93E92819,0x96A63E9C,0x976454AB,0x9522EAF2,0x94E080C5,
     0x9FBCC7F8,0x9E7EADCF,0x9C381396,0x9DFA79A1,0x98B56F24,0x99770513,0x9B31BB4A,0x9AF3D17D,0x8D893530,0x8C4B5F07,
     0x8E0DE15E,0x8FCF8B69,0x8A809DEC,0x8B42F7DB,0x89044982,0x88C623B5,0x839A6488,0x82580EBF,0x801EB0E6,0x81DCDAD1,
     0x8493CC54,0x8551A663,0x8717183A,0x86D5720D,0xA9E2D0A0,0xA820BA97,0xAA6604CE,0xABA46EF9,0xAEEB787C,0xAF29124B,
     0xAD6FAC12,0xACADC625,0xA7F18118,0xA633EB2F,0xA4755576,0xA5B73F41,0xA0F829C4,0xA13A43F3,0xA37CFDAA,0xA2BE979D,
     0xB5C473D0,0xB40619E7,0xB640A7BE,0xB782CD89,0xB2CDDB0C,0xB30FB13B,0xB1490F62,0xB08B6555,0xBBD72268,0xBA15485F,
     0xB853F606,0xB9919C31,0xBCDE8AB4,0xBD1CE083,0xBF5A5EDA,0xBE9834ED},
    {
     0x00000000,0xB8BC6765,0xAA09C88B,0x12B5AFEE,0x8F629757,0x37DEF032,0x256B5FDC,0x9DD738B9,0xC5B428EF,0x7D084F8A,
     0x6FBDE064,0xD7018701,0x4AD6BFB8,0xF26AD8DD,0xE0DF7733,0x58631056,0x5019579F,0xE8A530FA,0xFA109F14,0x42ACF871,
     0xDF7BC0C8,0x67C7A7AD,0x75720843,0xCDCE6F26,0x95AD7F70,0x2D111815,0x3FA4B7FB,0x8718D09E,0x1ACFE827,0xA2738F42,
     0xB0C620AC,0x087A47C9,0xA032AF3E,0x188EC85B,0x0A3B67B5,0xB28700D0,0x2F503869,0x97EC5F0C,0x8559F0E2,0x3DE59787,
     0x658687D1,0xDD3AE0B4,0xCF8F4F5A,0x7733283F,0xEAE41086,0x525877E3,0x40EDD80D,0xF851BF68,0xF02BF8A1,0x48979FC4,
     0x5A22302A,0xE29E574F,0x7F496FF6,0xC7F50893,0xD540A77D,0x6DFCC018,0x359FD04E,0x8D23B72B,0x9F9618C5,0x272A7FA0,
     0xBAFD4719,0x0241207C,0x10F48F92,0xA848E8F7,0x9B14583D,0x23A83F58,0x311D90B6,0x89A1F7D3,0x1476CF6A,0xACCAA80F,
     0xBE7F07E1,0x06C36084,0x5EA070D2,0xE61C17B7,0xF4A9B859,0x4C15DF3C,0xD1C2E785,0x697E80E0,0x7BCB2F0E,0xC377486B,
     0xCB0D0FA2,0x73B168C7,0x6104C729,0xD9B8A04C,0x446F98F5,0xFCD3FF90,0xEE66507E,0x56DA371B,0x0EB9274D,0xB6054028,
     0xA4B0EFC6,0x1C0C88A3,0x81DBB01A,0x3967D77F,0x2BD27891,0x936E1FF4,0x3B26F703,0x839A9066,0x912F3F88,0x299358ED,
     0xB4446054,0x0CF80731,0x1E4DA8DF,0xA6F1CFBA,0xFE92DFEC,0x462EB889,0x549B1767,0xEC277002,0x71F048BB,0xC94C2FDE,
     0xDBF98030,0x6345E755,0x6B3FA09C,0xD383C7F9,0xC1366817,0x798A0F72,0xE45D37CB,0x5CE150AE,0x4E54FF40,0xF6E89825,
     0xAE8B8873,0x1637EF16,0x048240F8,0xBC3E279D,0x21E91F24,0x99557841,0x8BE0D7AF,0x335CB0CA,0xED59B63B,0x55E5D15E,
     0x47507EB0,0xFFEC19D5,0x623B216C,0xDA874609,0xC832E9E7,0x708E8E82,0x28ED9ED4,0x9051F9B1,0x82E4565F,0x3A58313A,
     0xA78F0983,0x1F336EE6,0x0D86C108,0xB53AA66D,0xBD40E1A4,0x05FC86C1,0x1749292F,0xAFF54E4A,0x322276F3,0x8A9E1196,
     0x982BBE78,0x2097D91D,0x78F4C94B,0xC048AE2E,0xD2FD01C0,0x6A4166A5,0xF7965E1C,0x4F2A3979,0x5D9F9697,0xE523F1F2,
     0x4D6B1905,0xF5D77E60,0xE762D18E,0x5FDEB6EB,0xC2098E52,0x7AB5E937,0x680046D9,0xD0BC21BC,0x88DF31EA,0x3063568F,
     0x22D6F961,0x9A6A9E04,0x07BDA6BD,0xBF01C1D8,0xADB46E36,0x15080953,0x1D724E9A,0xA5CE29FF,0xB77B8611,0x0FC7E174,
     0x9210D9CD,0x2AACBEA8,0x38191146,0x80A57623,0xD8C66675,0x607A0110,0x72CFAEFE,0xCA73C99B,0x57A4F122,0xEF189647,
     0xFDAD39A9,0x45115ECC,0x764DEE06,0xCEF18963,0xDC44268D,0x64F841E8,0xF92F7951,0x41931E34,0x5326B1DA,0xEB9AD6BF,
     0xB3F9C6E9,0x0B45A18C,0x19F00E62,0xA14C6907,0x3C9B51BE,0x842736DB,0x96929935,0x2E2EFE50,0x2654B999,0x9EE8DEFC,
     0x8C5D7112,0x34E11677,0xA9362ECE,0x118A49AB,0x033FE645,0xBB838120,0xE3E09176,0x5B5CF613,0x49E959FD,0xF1553E98,
     0x6C820621,0xD43E6144,0xC68BCEAA,0x7E37A9CF,0xD67F4138,0x6EC3265D,0x7C7689B3,0xC4CAEED6,0x591DD66F,0xE1A1B10A,
     0xF3141EE4,0x4BA87981,0x13CB69D7,0xAB770EB2,0xB9C2A15C,0x017EC639,0x9CA9FE80,0x241599E5,0x36A0360B,0x8E1C516E,
     0x866616A7,0x3EDA71C2,0x2C6FDE2C,0x94D3B949,0x090481F0,0xB1B8E695,0xA30D497B,0x1BB12E1E,0x43D23E48,0xFB6E592D,
     0xE9DBF6C3,0x516791A6,0xCCB0A91F,0x740CCE7A,0x66B96194,0xDE0506F1},
    {
     0x00000000,0x3D6029B0,0x7AC05360,0x47A07AD0,0xF580A6C0,0xC8E08F70,0x8F40F5A0,0xB220DC10,0x30704BC1,0x0D106271,
     0x4AB018A1,0x77D03111,0xC5F0ED01,0xF890C4B1,0xBF30BE61,0x825097D1,0x60E09782,0x5D80BE32,0x1A20C4E2,0x2740ED52,
     0x95603142,0xA80018F2,0xEFA06222,0xD2C04B92,0x5090DC43,0x6DF0F5F3,0x2A508F23,0x1730A693,0xA5107A83,0x98705333,
     0xDFD029E3,0xE2B00053,0xC1C12F04,0xFCA106B4,0xBB017C64,0x866155D4,0x344189C4,0x0921A074,0x4E81DAA4,0x73E1F314,
     0xF1B164C5,0xCCD14D75,0x8B7137A5,0xB6111E15,0x0431C205,0x3951EBB5,0x7EF19165,0x4391B8D5,0xA121B886,0x9C419136,
     0xDBE1EBE6,0xE681C256,0x54A11E46,0x69C137F6,0x2E614D26,0x13016496,0x9151F347,0xAC31DAF7,0xEB91A027,0xD6F18997,
     0x64D15587,0x59B17C37,0x1E1106E7,0x23712F57,0x58F35849,0x659371F9,0x22330B29,0x1F532299,0xAD73FE89,0x9013D739,
     0xD7B3ADE9,0xEAD38459,0x68831388,0x55E33A38,0x124340E8,0x2F236958,0x9D03B548,0xA0639CF8,0xE7C3E628,0xDAA3CF98,
     0x3813CFCB,0x0573E67B,0x42D39CAB,0x7FB3B51B,0xCD93690B,0xF0F340BB,0xB7533A6B,0x8A3313DB,0x0863840A,0x3503ADBA,
     0x72A3D76A,0x4FC3FEDA,0xFDE322CA,0xC0830B7A,0x872371AA,0xBA43581A,0x9932774D,0xA4525EFD,0xE3F2242D,0xDE920D9D,
     0x6CB2D18D,0x51D2F83D,0x167282ED,0x2B12AB5D,0xA9423C8C,0x9422153C,0xD3826FEC,0xEEE2465C,0x5CC29A4C,0x61A2B3FC,
     0x2602C92C,0x1B62E09C,0xF9D2E0CF,0xC4B2C97F,0x8312B3AF,0xBE729A1F,0x0C52460F,0x31326FBF,0x7692156F,0x4BF23CDF,
     0xC9A2AB0E,0xF4C282BE,0xB362F86E,0x8E02D1DE,0x3C220DCE,0x0142247E,0x46E25EAE,0x7B82771E,0xB1E6B092,0x8C869922,
     0xCB26E3F2,0xF646CA42,0x44661652,0x79063FE2,0x3EA64532,0x03C66C82,0x8196FB53,0xBCF6D2E3,0xFB56A833,0xC6368183,
     0x74165D93,0x49767423,0x0ED60EF3,0x33B62743,0xD1062710,0xEC660EA0,0xABC67470,0x96A65DC0,0x248681D0,0x19E6A860,
     0x5E46D2B0,0x6326FB00,0xE1766CD1,0xDC164561,0x9BB63FB1,0xA6D61601,0x14F6CA11,0x2996E3A1,0x6E369971,0x5356B0C1,
     0x70279F96,0x4D47B626,0x0AE7CCF6,0x3787E546,0x85A73956,0xB8C710E6,0xFF676A36,0xC2074386,0x4057D457,0x7D37FDE7,
     0x3A978737,0x07F7AE87,0xB5D77297,0x88B75B27,0xCF1721F7,0xF2770847,0x10C70814,0x2DA721A4,0x6A075B74,0x576772C4,
     0xE547AED4,0xD8278764,0x9F87FDB4,0xA2E7D404,0x20B743D5,0x1DD76A65,0x5A7710B5,0x67173905,0xD537E515,0xE857CCA5,
     0xAFF7B675,0x92979FC5,0xE915E8DB,0xD475C16B,0x93D5BBBB,0xAEB5920B,0x1C954E1B,0x21F567AB,0x66551D7B,0x5B3534CB,
     0xD965A31A,0xE4058AAA,0xA3A5F07A,0x9EC5D9CA,0x2CE505DA,0x11852C6A,0x562556BA,0x6B457F0A,0x89F57F59,0xB49556E9,
     0xF3352C39,0xCE550589,0x7C75D999,0x4115F029,0x06B58AF9,0x3BD5A349,0xB9853498,0x84E51D28,0xC34567F8,0xFE254E48,
     0x4C059258,0x7165BBE8,0x36C5C138,0x0BA5E888,0x28D4C7DF,0x15B4EE6F,0x521494BF,0x6F74BD0F,0xDD54611F,0xE03448AF,
     0xA794327F,0x9AF41BCF,0x18A48C1E,0x25C4A5AE,0x6264DF7E,0x5F04F6CE,0xED242ADE,0xD044036E,0x97E479BE,0xAA84500E,
     0x4834505D,0x755479ED,0x32F4033D,0x0F942A8D,0xBDB4F69D,0x80D4DF2D,0xC774A5FD,0xFA148C4D,0x78441B9C,0x4524322C,
     0x028448FC,0x3FE4614C,0x8DC4BD5C,0xB0A494EC,0xF704EE3C,0xCA64C78C},
    {
     0x00000000,0xCB5CD3A5,0x4DC8A10B,0x869472AE,0x9B914216,0x50CD91B3,0xD659E31D,0x1D0530B8,0xEC53826D,0x270F51C8,
     0xA19B2366,0x6AC7F0C3,0x77C2C07B,0xBC9E13DE,0x3A0A6170,0xF156B2D5,0x03D6029B,0xC88AD13E,0x4E1EA390,0x85427035,
     0x9847408D,0x531B9328,0xD58FE186,0x1ED33223,0xEF8580F6,0x24D95353,0xA24D21FD,0x6911F258,0x7414C2E0,0xBF481145,
     0x39DC63EB,0xF280B04E,0x07AC0536,0xCCF0D693,0x4A64A43D,0x81387798,0x9C3D4720,0x57619485,0xD1F5E62B,0x1AA9358E,
     0xEBFF875B,0x20A354FE,0xA6372650,0x6D6BF5F5,0x706EC54D,0xBB3216E8,0x3DA66446,0xF6FAB7E3,0x047A07AD,0xCF26D408,
     0x49B2A6A6,0x82EE7503,0x9FEB45BB,0x54B7961E,0xD223E4B0,0x197F3715,0xE82985C0,0x23755665,0xA5E124CB,0x6EBDF76E,
     0x73B8C7D6,0xB8E41473,0x3E7066DD,0xF52CB578,0x0F580A6C,0xC404D9C9,0x4290AB67,0x89CC78C2,0x94C9487A,0x5F959BDF,
     0xD901E971,0x125D3AD4,0xE30B8801,0x28575BA4,0xAEC3290A,0x659FFAAF,0x789ACA17,0xB3C619B2,0x35526B1C,0xFE0EB8B9,
     0x0C8E08F7,0xC7D2DB52,0x4146A9FC,0x8A1A7A59,0x971F4AE1,0x5C439944,0xDAD7EBEA,0x118B384F,0xE0DD8A9A,0x2B81593F,
     0xAD152B91,0x6649F834,0x7B4CC88C,0xB0101B29,0x36846987,0xFDD8BA22,0x08F40F5A,0xC3A8DCFF,0x453CAE51,0x8E607DF4,
     0x93654D4C,0x58399EE9,0xDEADEC47,0x15F13FE2,0xE4A78D37,0x2FFB5E92,0xA96F2C3C,0x6233FF99,0x7F36CF21,0xB46A1C84,
     0x32FE6E2A,0xF9A2BD8F,0x0B220DC1,0xC07EDE64,0x46EAACCA,0x8DB67F6F,0x90B34FD7,0x5BEF9C72,0xDD7BEEDC,0x16273D79,
     0xE7718FAC,0x2C2D5C09,0xAAB92EA7,0x61E5FD02,0x7CE0CDBA,0xB7BC1E1F,0x31286CB1,0xFA74BF14,0x1EB014D8,0xD5ECC77D,
     0x5378B5D3,0x98246676,0x852156CE,0x4E7D856B,0xC8E9F7C5,0x03B52460,0xF2E396B5,0x39BF4510,0xBF2B37BE,0x7477E41B,
     0x6972D4A3,0xA22E0706,0x24BA75A8,0xEFE6A60D,0x1D661643,0xD63AC5E6,0x50AEB748,0x9BF264ED,0x86F75455,0x4DAB87F0,
     0xCB3FF55E,0x006326FB,0xF135942E,0x3A69478B,0xBCFD3525,0x77A1E680,0x6AA4D638,0xA1F8059D,0x276C7733,0xEC30A496,
     0x191C11EE,0xD240C24B,0x54D4B0E5,0x9F886340,0x828D53F8,0x49D1805D,0xCF45F2F3,0x04192156,0xF54F9383,0x3E134026,
     0xB8873288,0x73DBE12D,0x6EDED195,0xA5820230,0x2316709E,0xE84AA33B,0x1ACA1375,0xD196C0D0,0x5702B27E,0x9C5E61DB,
     0x815B5163,0x4A0782C6,0xCC93F068,0x07CF23CD,0xF6999118,0x3DC542BD,0xBB513013,0x700DE3B6,0x6D08D30E,0xA65400AB,
     0x20C07205,0xEB9CA1A0,0x11E81EB4,0xDAB4CD11,0x5C20BFBF,0x977C6C1A,0x8A795CA2,0x41258F07,0xC7B1FDA9,0x0CED2E0C,
     0xFDBB9CD9,0x36E74F7C,0xB0733DD2,0x7B2FEE77,0x662ADECF,0xAD760D6A,0x2BE27FC4,0xE0BEAC61,0x123E1C2F,0xD962CF8A,
     0x5FF6BD24,0x94AA6E81,0x89AF5E39,0x42F38D9C,0xC467FF32,0x0F3B2C97,0xFE6D9E42,0x35314DE7,0xB3A53F49,0x78F9ECEC,
     0x65FCDC54,0xAEA00FF1,0x28347D5F,0xE368AEFA,0x16441B82,0xDD18C827,0x5B8CBA89,0x90D0692C,0x8DD55994,0x46898A31,
     0xC01DF89F,0x0B412B3A,0xFA1799EF,0x314B4A4A,0xB7DF38E4,0x7C83EB41,0x6186DBF9,0xAADA085C,0x2C4E7AF2,0xE712A957,
     0x15921919,0xDECECABC,0x585AB812,0x93066BB7,0x8E035B0F,0x455F88AA,0xC3CBFA04,0x089729A1,0xF9C19B74,0x329D48D1,
     0xB4093A7F,0x7F55E9DA,0x6250D962,0xA90C0AC7,0x2F987869,0xE4C4ABCC},
    {
     0x00000000,0xA6770BB4,0x979F1129,0x31E81A9D,0xF44F2413,0x52382FA7,0x63D0353A,0xC5A73E8E,0x33EF4E67,0x959845D3,
     0xA4705F4E,0x020754FA,0xC7A06A74,0x61D761C0,0x503F7B5D,0xF64870E9,0x67DE9CCE,0xC1A9977A,0xF0418DE7,0x56368653,
     0x9391B8DD,0x35E6B369,0x040EA9F4,0xA279A240,0x5431D2A9,0xF246D91D,0xC3AEC380,0x65D9C834,0xA07EF6BA,0x0609FD0E,
     0x37E1E793,0x9196EC27,0xCFBD399C,0x69CA3228,0x582228B5,0xFE552301,0x3BF21D8F,0x9D85163B,0xAC6D0CA6,0x0A1A0712,
     0xFC5277FB,0x5A257C4F,0x6BCD66D2,0xCDBA6D66,0x081D53E8,0xAE6A585C,0x9F8242C1,0x39F54975,0xA863A552,0x0E14AEE6,
     0x3FFCB47B,0x998BBFCF,0x5C2C8141,0xFA5B8AF5,0xCBB39068,0x6DC49BDC,0x9B8CEB35,0x3DFBE081,0x0C13FA1C,0xAA64F1A8,
     0x6FC3CF26,0xC9B4C492,0xF85CDE0F,0x5E2BD5BB,0x440B7579,0xE27C7ECD,0xD3946450,0x75E36FE4,0xB044516A,0x16335ADE,
     0x27DB4043,0x81AC4BF7,0x77E43B1E,0xD19330AA,0xE07B2A37,0x460C2183,0x83AB1F0D,0x25DC14B9,0x14340E24,0xB2430590,
     0x23D5E9B7,0x85A2E203,0xB44AF89E,0x123DF32A,0xD79ACDA4,0x71EDC610,0x4005DC8D,0xE672D739,0x103AA7D0,0xB64DAC64,
     0x87A5B6F9,0x21D2BD4D,0xE47583C3,0x42028877,0x73EA92EA,0xD59D995E,0x8BB64CE5,0x2DC14751,0x1C295DCC,0xBA5E5678,
     0x7FF968F6,0xD98E6342,0xE86679DF,0x4E11726B,0xB8590282,0x1E2E0936,0x2FC613AB,0x89B1181F,0x4C162691,0xEA612D25,
     0xDB8937B8,0x7DFE3C0C,0xEC68D02B,0x4A1FDB9F,0x7BF7C102,0xDD80CAB6,0x1827F438,0xBE50FF8C,0x8FB8E511,0x29CFEEA5,
     0xDF879E4C,0x79F095F8,0x48188F65,0xEE6F84D1,0x2BC8BA5F,0x8DBFB1EB,0xBC57AB76,0x1A20A0C2,0x8816EAF2,0x2E61E146,
     0x1F89FBDB,0xB9FEF06F,0x7C59CEE1,0xDA2EC555,0xEBC6DFC8,0x4DB1D47C,0xBBF9A495,0x1D8EAF21,0x2C66B5BC,0x8A11BE08,
     0x4FB68086,0xE9C18B32,0xD82991AF,0x7E5E9A1B,0xEFC8763C,0x49BF7D88,0x78576715,0xDE206CA1,0x1B87522F,0xBDF0599B,
     0x8C184306,0x2A6F48B2,0xDC27385B,0x7A5033EF,0x4BB82972,0xEDCF22C6,0x28681C48,0x8E1F17FC,0xBFF70D61,0x198006D5,
     0x47ABD36E,0xE1DCD8DA,0xD034C247,0x7643C9F3,0xB3E4F77D,0x1593FCC9,0x247BE654,0x820CEDE0,0x74449D09,0xD23396BD,
     0xE3DB8C20,0x45AC8794,0x800BB91A,0x267CB2AE,0x1794A833,0xB1E3A387,0x20754FA0,0x86024414,0xB7EA5E89,0x119D553D,
     0xD43A6BB3,0x724D6007,0x43A57A9A,0xE5D2712E,0x139A01C7,0xB5ED0A73,0x840510EE,0x22721B5A,0xE7D525D4,0x41A22E60,
     0x704A34FD,0xD63D3F49,0xCC1D9F8B,0x6A6A943F,0x5B828EA2,0xFDF58516,0x3852BB98,0x9E25B02C,0xAFCDAAB1,0x09BAA105,
     0xFFF2D1EC,0x5985DA58,0x686DC0C5,0xCE1ACB71,0x0BBDF5FF,0xADCAFE4B,0x9C22E4D6,0x3A55EF62,0xABC30345,0x0DB408F1,
     0x3C5C126C,0x9A2B19D8,0x5F8C2756,0xF9FB2CE2,0xC813367F,0x6E643DCB,0x982C4D22,0x3E5B4696,0x0FB35C0B,0xA9C457BF,
     0x6C636931,0xCA146285,0xFBFC7818,0x5D8B73AC,0x03A0A617,0xA5D7ADA3,0x943FB73E,0x3248BC8A,0xF7EF8204,0x519889B0,
     0x6070932D,0xC6079899,0x304FE870,0x9638E3C4,0xA7D0F959,0x01A7F2ED,0xC400CC63,0x6277C7D7,0x539FDD4A,0xF5E8D6FE,
     0x647E3AD9,0xC209316D,0xF3E12BF0,0x55962044,0x90311ECA,0x3646157E,0x07AE0FE3,0xA1D90457,0x579174BE,0xF1E67F0A,
     0xC00E6597,0x66796E23,0xA3DE50AD,0x05A95B19,0x34414184,0x92364A30},
    {
     0x00000000,0xCCAA009E,0x4225077D,0x8E8F07E3,0x844A0EFA,0x48E00E64,0xC66F0987,0x0AC50919,0xD3E51BB5,0x1F4F1B2B,
     0x91C01CC8,0x5D6A1C56,0x57AF154F,0x9B0515D1,0x158A1232,0xD92012AC,0x7CBB312B,0xB01131B5,0x3E9E3656,0xF23436C8,
     0xF8F13FD1,0x345B3F4F,0xBAD438AC,0x767E3832,0xAF5E2A9E,0x63F42A00,0xED7B2DE3,0x21D12D7D,0x2B142464,0xE7BE24FA,
     0x69312319,0xA59B2387,0xF9766256,0x35DC62C8,0xBB53652B,0x77F965B5,0x7D3C6CAC,0xB1966C32,0x3F196BD1,0xF3B36B4F,
     0x2A9379E3,0xE639797D,0x68B67E9E,0xA41C7E00,0xAED97719,0x62737787,0xECFC7064,0x205670FA,0x85CD537D,0x496753E3,
     0xC7E85400,0x0B42549E,0x01875D87,0xCD2D5D19,0x43A25AFA,0x8F085A64,0x562848C8,0x9A824856,0x140D4FB5,0xD8A74F2B,
     0xD2624632,0x1EC846AC,0x9047414F,0x5CED41D1,0x299DC2ED,0xE537C273,0x6BB8C590,0xA712C50E,0xADD7CC17,0x617DCC89,
     0xEFF2CB6A,0x2358CBF4,0xFA78D958,0x36D2D9C6,0xB85DDE25,0x74F7DEBB,0x7E32D7A2,0xB298D73C,0x3C17D0DF,0xF0BDD041,
     0x5526F3C6,0x998CF358,0x1703F4BB,0xDBA9F425,0xD16CFD3C,0x1DC6FDA2,0x9349FA41,0x5FE3FADF,0x86C3E873,0x4A69E8ED,
     0xC4E6EF0E,0x084CEF90,0x0289E689,0xCE23E617,0x40ACE1F4,0x8C06E16A,0xD0EBA0BB,0x1C41A025,0x92CEA7C6,0x5E64A758,
     0x54A1AE41,0x980BAEDF,0x1684A93C,0xDA2EA9A2,0x030EBB0E,0xCFA4BB90,0x412BBC73,0x8D81BCED,0x8744B5F4,0x4BEEB56A,
     0xC561B289,0x09CBB217,0xAC509190,0x60FA910E,0xEE7596ED,0x22DF9673,0x281A9F6A,0xE4B09FF4,0x6A3F9817,0xA6959889,
     0x7FB58A25,0xB31F8ABB,0x3D908D58,0xF13A8DC6,0xFBFF84DF,0x37558441,0xB9DA83A2,0x7570833C,0x533B85DA,0x9F918544,
     0x111E82A7,0xDDB48239,0xD7718B20,0x1BDB8BBE,0x95548C5D,0x59FE8CC3,0x80DE9E6F,0x4C749EF1,0xC2FB9912,0x0E51998C,
     0x04949095,0xC83E900B,0x46B197E8,0x8A1B9776,0x2F80B4F1,0xE32AB46F,0x6DA5B38C,0xA10FB312,0xABCABA0B,0x6760BA95,
     0xE9EFBD76,0x2545BDE8,0xFC65AF44,0x30CFAFDA,0xBE40A839,0x72EAA8A7,0x782FA1BE,0xB485A120,0x3A0AA6C3,0xF6A0A65D,
     0xAA4DE78C,0x66E7E712,0xE868E0F1,0x24C2E06F,0x2E07E976,0xE2ADE9E8,0x6C22EE0B,0xA088EE95,0x79A8FC39,0xB502FCA7,
     0x3B8DFB44,0xF727FBDA,0xFDE2F2C3,0x3148F25D,0xBFC7F5BE,0x736DF520,0xD6F6D6A7,0x1A5CD639,0x94D3D1DA,0x5879D144,
     0x52BCD85D,0x9E16D8C3,0x1099DF20,0xDC33DFBE,0x0513CD12,0xC9B9CD8C,0x4736CA6F,0x8B9CCAF1,0x8159C3E8,0x4DF3C376,
     0xC37CC495,0x0FD6C40B,0x7AA64737,0xB60C47A9,0x3883404A,0xF42940D4,0xFEEC49CD,0x32464953,0xBCC94EB0,0x70634E2E,
     0xA9435C82,0x65E95C1C,0xEB665BFF,0x27CC5B61,0x2D095278,0xE1A352E6,0x6F2C5505,0xA386559B,0x061D761C,0xCAB77682,
     0x44387161,0x889271FF,0x825778E6,0x4EFD7878,0xC0727F9B,0x0CD87F05,0xD5F86DA9,0x19526D37,0x97DD6AD4,0x5B776A4A,
     0x51B26353,0x9D1863CD,0x1397642E,0xDF3D64B0,0x83D02561,0x4F7A25FF,0xC1F5221C,0x0D5F2282,0x079A2B9B,0xCB302B05,
     0x45BF2CE6,0x89152C78,0x50353ED4,0x9C9F3E4A,0x121039A9,0xDEBA3937,0xD47F302E,0x18D530B0,0x965A3753,0x5AF037CD,
     0xFF6B144A,0x33C114D4,0xBD4E1337,0x71E413A9,0x7B211AB0,0xB78B1A2E,0x39041DCD,0xF5AE1D53,0x2C8E0FFF,0xE0240F61,
     0x6EAB0882,0xA201081C,0xA8C40105,0x646E019B,0xEAE10678,0x264B06E6}};

static uint32_t dcf__crc(const uint8_t *p, size_t n) {
    const uint32_t (*t)[256] = dcf__crc_t;
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
/* A little-endian u16 (rANS words): one load on little-endian GCC/Clang targets. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define DCF__LE16(p) dcf__le16_fast(p)
static uint32_t dcf__le16_fast(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
#else
#define DCF__LE16(p) ((uint32_t)(p)[0] | (uint32_t)(p)[1] << 8)
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
    size_t ntok;           /* values and keys seen (the graph checker's token count) */
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
            j->ntok++;
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
    j->ntok++;
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
static dcf_status dcf__json_check(const dcf_file *f, const uint8_t *p, size_t n, uint32_t max_depth, const char **why,
                                  size_t *ntok) {
    dcf__json j;
    memset(&j, 0, sizeof j);
    j.p = p; j.n = n; j.f = f; j.max_depth = max_depth < 512 ? max_depth : 512; /* bounds the recursion */
    if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) { *why = "leading byte-order mark"; return DCF_E_METADATA; }
    dcf__json_ws(&j);
    if (j.i >= n || p[j.i] != '{') { *why = "the top level is not an object"; return DCF_E_METADATA; }
    if (!dcf__json_value(&j)) { *why = j.why ? j.why : "out of memory"; return j.oom ? DCF_E_LIMIT : DCF_E_METADATA; }
    dcf__json_ws(&j);
    if (j.i != n) { *why = "bytes after the JSON text"; return DCF_E_METADATA; }
    if (ntok) *ntok = j.ntok;
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

/* ---- graph schema (spec/GRAPH.md §2-§4, §7) -----------------------------------------------------------------------
 * After the strict syntax check above, the payload is flattened into a token array (iteratively: depth <= 8) with
 * every string decoded to UTF-8 once; the schema is then checked by walking that array, with one hash set holding
 * the stored tensor names, defined values, node names and listed graph outputs. */

enum { DCF__J_OBJ = 1, DCF__J_ARR, DCF__J_STR, DCF__J_INT, DCF__J_FLT, DCF__J_TRUE, DCF__J_FALSE, DCF__J_NULL };

typedef struct {
    uint8_t type;
    uint32_t start;   /* byte offset of the token in the payload */
    uint32_t next;    /* index of the token after this one's subtree */
    uint32_t count;   /* array: elements; object: members */
    uint32_t s, slen; /* string: decoded UTF-8 in sbuf; number: the literal's span in the payload */
} dcf__tok;

typedef struct {
    const uint8_t *p;
    uint32_t len;
    uint32_t kind; /* 'T' stored tensor, 'V' value, 'N' node name, 'O' listed graph output */
} dcf__gslot;

typedef struct {
    const dcf_file *f;
    dcf_error *err;
    const uint8_t *p;   /* payload */
    uint64_t base;      /* its file offset */
    dcf__tok *t;
    uint32_t nt;
    uint8_t *sbuf;
    dcf__gslot *set;
    uint64_t mask;
    int64_t version;
} dcf__graph;

#define DCF__GFAIL(g, tok, field, ...) dcf__fail((g)->err, DCF_E_GRAPH, NULL, (field), 1, (g)->base + (g)->t[tok].start, __VA_ARGS__)
#define DCF__GSTR(g, tok) (int)((g)->t[tok].slen < 60 ? (g)->t[tok].slen : 60), (const char *)((g)->sbuf + (g)->t[tok].s)

/* Flatten a syntax-checked payload of at most ntok tokens. */
static void dcf__graph_tokens(dcf__graph *g, size_t n) {
    const uint8_t *p = g->p;
    uint32_t stack[16], depth = 0, nt = 0, sused = 0;
    size_t i = 0;
    for (;;) {
        uint8_t ch;
        uint32_t k;
        while (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r' || p[i] == ',' || p[i] == ':') i++;
        ch = p[i];
        if (ch == '}' || ch == ']') {
            k = stack[--depth];
            g->t[k].next = nt;
            if (g->t[k].type == DCF__J_OBJ) g->t[k].count /= 2; /* keys and values were counted */
            i++;
            if (depth == 0) break;
            continue;
        }
        k = nt++;
        g->t[k].start = (uint32_t)i;
        g->t[k].count = 0;
        g->t[k].next = nt;
        g->t[k].s = g->t[k].slen = 0;
        if (depth) g->t[stack[depth - 1]].count++;
        if (ch == '{' || ch == '[') {
            g->t[k].type = ch == '{' ? DCF__J_OBJ : DCF__J_ARR;
            stack[depth++] = k;
            i++;
        } else if (ch == '"') {
            size_t a = ++i;
            while (p[i] != '"') i += p[i] == '\\' ? 2 : 1;
            g->t[k].type = DCF__J_STR;
            g->t[k].s = sused;
            g->t[k].slen = (uint32_t)dcf__json_unescape(p, a, i, g->sbuf + sused);
            sused += g->t[k].slen;
            i++;
        } else if (ch == 't' || ch == 'n') {
            g->t[k].type = ch == 't' ? DCF__J_TRUE : DCF__J_NULL;
            i += 4;
        } else if (ch == 'f') {
            g->t[k].type = DCF__J_FALSE;
            i += 5;
        } else {
            g->t[k].type = DCF__J_INT;
            while (i < n && (p[i] == '-' || p[i] == '+' || p[i] == '.' || p[i] == 'e' || p[i] == 'E' || (p[i] >= '0' && p[i] <= '9'))) {
                if (p[i] == '.' || p[i] == 'e' || p[i] == 'E') g->t[k].type = DCF__J_FLT;
                i++;
            }
            g->t[k].s = g->t[k].start;
            g->t[k].slen = (uint32_t)(i - g->t[k].start);
        }
    }
    g->nt = nt;
}

/* An integer literal (<= 20 digits), saturated to +-2^62: every range in the spec is far inside that. */
static int64_t dcf__graph_int(const dcf__graph *g, uint32_t k) {
    const uint8_t *q = g->p + g->t[k].s;
    uint32_t n = g->t[k].slen, i = 0;
    int64_t v = 0;
    int neg = q[0] == '-';
    if (neg) i++;
    for (; i < n; i++) v = v > ((int64_t)1 << 62) / 10 ? ((int64_t)1 << 62) : v * 10 + (q[i] - '0');
    return neg ? -v : v;
}
/* A number's value as binary64 (the syntax check proved it finite); 0 and DCF_E_LIMIT if the copy cannot be made. */
static int dcf__graph_double(const dcf__graph *g, uint32_t k, double *out) {
    char small[64], *buf = small;
    uint32_t n = g->t[k].slen;
    if (n >= sizeof small) {
        buf = (char *)dcf__alloc(g->f, (uint64_t)n + 1);
        if (!buf) return 0;
    }
    memcpy(buf, g->p + g->t[k].s, n);
    buf[n] = 0;
    *out = strtod(buf, NULL);
    if (buf != small) dcf__release(g->f, buf);
    return 1;
}

static int dcf__graph_is(const dcf__graph *g, uint32_t k, const char *lit) {
    size_t n = strlen(lit);
    return g->t[k].type == DCF__J_STR && g->t[k].slen == n && memcmp(g->sbuf + g->t[k].s, lit, n) == 0;
}

/* Insert (kind, bytes) into the set; returns 1 if it was already there. With insert == 0 only looks it up. */
static int dcf__graph_set(dcf__graph *g, uint32_t kind, const uint8_t *p, size_t len, int insert) {
    uint64_t h = dcf__hash(p, len) ^ kind * 0x9E3779B97F4A7C15ull, k;
    for (k = h & g->mask;; k = (k + 1) & g->mask) {
        dcf__gslot *s = &g->set[k];
        if (!s->p) {
            if (insert) { s->p = p; s->len = (uint32_t)len; s->kind = kind; }
            return 0;
        }
        if (s->kind == kind && s->len == len && memcmp(s->p, p, len) == 0) return 1;
    }
}
static int dcf__graph_has(dcf__graph *g, uint32_t kind, uint32_t tok) {
    return dcf__graph_set(g, kind, g->sbuf + g->t[tok].s, g->t[tok].slen, 0);
}
static int dcf__graph_add(dcf__graph *g, uint32_t kind, uint32_t tok) {
    return dcf__graph_set(g, kind, g->sbuf + g->t[tok].s, g->t[tok].slen, 1);
}

/* Object `obj` has exactly the `n` keys of `keys`; their value tokens go to vals[]. */
static dcf_status dcf__graph_keys(dcf__graph *g, uint32_t obj, const char *const *keys, unsigned n, uint32_t *vals,
                                  const char *where) {
    uint32_t c, m;
    unsigned k;
    if (g->t[obj].type != DCF__J_OBJ) return DCF__GFAIL(g, obj, where, "%s must be an object", where);
    for (k = 0; k < n; k++) vals[k] = 0;
    for (m = 0, c = obj + 1; m < g->t[obj].count; m++, c = g->t[c + 1].next) {
        for (k = 0; k < n && !dcf__graph_is(g, c, keys[k]); k++) {}
        if (k == n) return DCF__GFAIL(g, c, where, "%s: unknown key '%.*s'", where, DCF__GSTR(g, c));
        vals[k] = c + 1; /* keys are unique (syntax check) */
    }
    for (k = 0; k < n; k++)
        if (!vals[k]) return DCF__GFAIL(g, obj, where, "%s: missing key '%s'", where, keys[k]);
    return DCF_OK;
}

/* GRAPH.md §3 Name: a non-empty string of at most 1024 characters without a control character (Cc). */
static dcf_status dcf__graph_name(dcf__graph *g, uint32_t k, const char *field, const char *what) {
    const uint8_t *s = g->sbuf + g->t[k].s;
    uint32_t n = g->t[k].slen, i, chars = 0;
    if (g->t[k].type != DCF__J_STR || n == 0) return DCF__GFAIL(g, k, field, "%s must be a non-empty string", what);
    for (i = 0; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) chars++;
        if (s[i] < 0x20 || s[i] == 0x7F || (s[i] == 0xC2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F))
            return DCF__GFAIL(g, k, field, "%s '%.*s' contains a control character", what, DCF__GSTR(g, k));
    }
    if (chars > 1024) return DCF__GFAIL(g, k, field, "%s is %u characters long, limit 1024", what, (unsigned)chars);
    return DCF_OK;
}

/* ValueInfo (GRAPH.md §3): name, shape of <= 8 dims (int in [0, 2^31-1], symbol, null for outputs), dtype float32. */
static dcf_status dcf__graph_valueinfo(dcf__graph *g, uint32_t k, int is_output, uint32_t *name) {
    static const char *const keys[3] = {"name", "shape", "dtype"};
    const char *where = is_output ? "GRPH.outputs" : "GRPH.inputs";
    uint32_t v[3], d, m;
    dcf_status s;
    if ((s = dcf__graph_keys(g, k, keys, 3, v, where))) return s;
    if ((s = dcf__graph_name(g, v[0], where, "a graph input/output name"))) return s;
    *name = v[0];
    if (g->t[v[1]].type != DCF__J_ARR || g->t[v[1]].count > 8)
        return DCF__GFAIL(g, v[1], "GRPH.shape", "'%.*s': shape must be a list of at most 8 entries", DCF__GSTR(g, v[0]));
    for (m = 0, d = v[1] + 1; m < g->t[v[1]].count; m++, d = g->t[d].next) {
        uint8_t ty = g->t[d].type;
        int ok = 0;
        if (ty == DCF__J_INT) { int64_t x = dcf__graph_int(g, d); ok = x >= 0 && x <= 2147483647; }
        else if (ty == DCF__J_NULL) ok = is_output;
        else if (ty == DCF__J_STR) {
            const uint8_t *q = g->sbuf + g->t[d].s;
            uint32_t n = g->t[d].slen, i;
            ok = n >= 1 && n <= 64 && (q[0] == '_' || (unsigned)((q[0] | 0x20) - 'a') < 26u);
            for (i = 1; ok && i < n; i++) ok = q[i] == '_' || (unsigned)((q[i] | 0x20) - 'a') < 26u || (unsigned)(q[i] - '0') < 10u;
        }
        if (!ok) return DCF__GFAIL(g, d, "GRPH.shape", "'%.*s': dimension %u is not an integer in [0, 2^31-1] or a symbol%s",
                                   DCF__GSTR(g, v[0]), (unsigned)m, is_output ? "" : " (null only in graph outputs)");
    }
    if (!dcf__graph_is(g, v[2], "float32"))
        return DCF__GFAIL(g, v[2], "GRPH.dtype", "'%.*s': unsupported dtype (only \"float32\")", DCF__GSTR(g, v[0]));
    return DCF_OK;
}

/* The op table of GRAPH.md §4. */
enum { DCF__A_INT, DCF__A_FLOAT, DCF__A_FLOATN, DCF__A_BOOL, DCF__A_INTS };
enum { DCF__C_NONE, DCF__C_ODD, DCF__C_PERM, DCF__C_ONE_INFER };
typedef struct {
    const char *name;
    uint8_t kind, required, check, has_lo, has_hi;
    double lo, hi;
    uint8_t len_lo, len_hi; /* INTS */
} dcf__attr;
typedef struct {
    const char *name;
    uint16_t in_lo, in_hi;
    uint8_t out_lo, out_hi, stored; /* stored: bit i = input i must name a stored tensor */
    uint8_t since, nattrs;
    const dcf__attr *attrs;
} dcf__op;

#define DCF__MAXDIM 2147483647.0
#define DCF__PAIR(n, req) {n, DCF__A_INTS, req, DCF__C_NONE, 1, 1, 1, DCF__MAXDIM, 2, 2}
#define DCF__PADS {"padding", DCF__A_INTS, 0, DCF__C_NONE, 1, 1, 0, DCF__MAXDIM, 4, 4}
#define DCF__AXIS(req) {"axis", DCF__A_INT, req, DCF__C_NONE, 1, 1, -8, 7, 0, 0}
static const dcf__attr dcf__a_conv[] = {DCF__PAIR("stride", 0), DCF__PADS, DCF__PAIR("dilation", 0),
                                        {"groups", DCF__A_INT, 0, DCF__C_NONE, 1, 1, 1, DCF__MAXDIM, 0, 0}};
static const dcf__attr dcf__a_bn[] = {{"epsilon", DCF__A_FLOAT, 0, DCF__C_NONE, 1, 1, 0, 1, 0, 0}};
static const dcf__attr dcf__a_clip[] = {{"min", DCF__A_FLOATN, 0, DCF__C_NONE, 0, 0, 0, 0, 0, 0},
                                        {"max", DCF__A_FLOATN, 0, DCF__C_NONE, 0, 0, 0, 0, 0, 0}};
static const dcf__attr dcf__a_hsig[] = {{"alpha", DCF__A_FLOAT, 0, DCF__C_NONE, 0, 0, 0, 0, 0, 0},
                                        {"beta", DCF__A_FLOAT, 0, DCF__C_NONE, 0, 0, 0, 0, 0, 0}};
static const dcf__attr dcf__a_lrn[] = {{"size", DCF__A_INT, 1, DCF__C_ODD, 1, 1, 1, 1023, 0, 0},
                                       {"alpha", DCF__A_FLOAT, 0, DCF__C_NONE, 1, 0, 0, 0, 0, 0},
                                       {"beta", DCF__A_FLOAT, 0, DCF__C_NONE, 1, 0, 0, 0, 0, 0},
                                       {"bias", DCF__A_FLOAT, 0, DCF__C_NONE, 1, 0, 1e-6, 0, 0, 0}};
static const dcf__attr dcf__a_softmax[] = {DCF__AXIS(0)};
static const dcf__attr dcf__a_maxpool[] = {DCF__PAIR("kernel", 1), DCF__PAIR("stride", 0), DCF__PADS,
                                           {"ceil_mode", DCF__A_BOOL, 0, DCF__C_NONE, 0, 0, 0, 0, 0, 0}};
static const dcf__attr dcf__a_avgpool[] = {DCF__PAIR("kernel", 1), DCF__PAIR("stride", 0), DCF__PADS,
                                           {"ceil_mode", DCF__A_BOOL, 0, DCF__C_NONE, 0, 0, 0, 0, 0, 0},
                                           {"count_include_pad", DCF__A_BOOL, 0, DCF__C_NONE, 0, 0, 0, 0, 0, 0}};
static const dcf__attr dcf__a_concat[] = {DCF__AXIS(1)};
static const dcf__attr dcf__a_split[] = {DCF__AXIS(1), {"split", DCF__A_INTS, 1, DCF__C_NONE, 1, 1, 0, DCF__MAXDIM, 1, 64}};
static const dcf__attr dcf__a_shuffle[] = {{"groups", DCF__A_INT, 1, DCF__C_NONE, 1, 1, 1, DCF__MAXDIM, 0, 0}};
static const dcf__attr dcf__a_flatten[] = {{"axis", DCF__A_INT, 0, DCF__C_NONE, 1, 1, -8, 8, 0, 0}};
static const dcf__attr dcf__a_reshape[] = {{"shape", DCF__A_INTS, 1, DCF__C_ONE_INFER, 1, 1, -1, DCF__MAXDIM, 0, 8}};
static const dcf__attr dcf__a_transpose[] = {{"perm", DCF__A_INTS, 1, DCF__C_PERM, 1, 1, 0, 7, 1, 8}};
static const dcf__attr dcf__a_dropout[] = {{"ratio", DCF__A_FLOAT, 0, DCF__C_NONE, 1, 1, 0, 1, 0, 0}};
#define DCF__N(a) (uint8_t)(sizeof(a) / sizeof(a[0])), a
static const dcf__op dcf__ops[] = {
    {"Conv2d", 2, 3, 1, 1, 6, 1, DCF__N(dcf__a_conv)},
    {"Linear", 2, 3, 1, 1, 6, 1, 0, NULL},
    {"MatMul", 2, 2, 1, 1, 0, 1, 0, NULL},
    {"BatchNorm", 5, 5, 1, 1, 30, 1, DCF__N(dcf__a_bn)},
    {"ReLU", 1, 1, 1, 1, 0, 1, 0, NULL},
    {"ReLU6", 1, 1, 1, 1, 0, 1, 0, NULL},
    {"Clip", 1, 1, 1, 1, 0, 1, DCF__N(dcf__a_clip)},
    {"HardSigmoid", 1, 1, 1, 1, 0, 1, DCF__N(dcf__a_hsig)},
    {"HardSwish", 1, 1, 1, 1, 0, 1, 0, NULL},
    {"Sigmoid", 1, 1, 1, 1, 0, 1, 0, NULL},
    {"LRN", 1, 1, 1, 1, 0, 2, DCF__N(dcf__a_lrn)},
    {"Softmax", 1, 1, 1, 1, 0, 1, DCF__N(dcf__a_softmax)},
    {"MaxPool", 1, 1, 1, 1, 0, 1, DCF__N(dcf__a_maxpool)},
    {"AvgPool", 1, 1, 1, 1, 0, 1, DCF__N(dcf__a_avgpool)},
    {"GlobalAvgPool", 1, 1, 1, 1, 0, 1, 0, NULL},
    {"Concat", 1, 1024, 1, 1, 0, 1, DCF__N(dcf__a_concat)},
    {"Split", 1, 1, 1, 64, 0, 1, DCF__N(dcf__a_split)},
    {"Add", 2, 2, 1, 1, 0, 1, 0, NULL},
    {"Sub", 2, 2, 1, 1, 0, 1, 0, NULL},
    {"Mul", 2, 2, 1, 1, 0, 1, 0, NULL},
    {"Div", 2, 2, 1, 1, 0, 1, 0, NULL},
    {"ChannelShuffle", 1, 1, 1, 1, 0, 1, DCF__N(dcf__a_shuffle)},
    {"Flatten", 1, 1, 1, 1, 0, 1, DCF__N(dcf__a_flatten)},
    {"Reshape", 1, 1, 1, 1, 0, 1, DCF__N(dcf__a_reshape)},
    {"Transpose", 1, 1, 1, 1, 0, 1, DCF__N(dcf__a_transpose)},
    {"Dropout", 1, 1, 1, 1, 0, 1, DCF__N(dcf__a_dropout)},
    {"Identity", 1, 1, 1, 1, 0, 1, 0, NULL},
};

static int dcf__graph_in_range(const dcf__attr *a, double x) {
    return (!a->has_lo || x >= a->lo) && (!a->has_hi || x <= a->hi);
}
/* One attribute value against its kind and range (GRAPH.md §4); *count gets the length of an INTS list. */
static dcf_status dcf__graph_attr(dcf__graph *g, uint32_t node, const dcf__op *op, const dcf__attr *a, uint32_t v,
                                  uint32_t *count) {
    uint8_t ty = g->t[v].type;
    const char *bad = NULL;
    if (a->kind == DCF__A_INT) {
        int64_t x;
        if (ty != DCF__J_INT) bad = "must be an integer";
        else if (x = dcf__graph_int(g, v), !dcf__graph_in_range(a, (double)x)) bad = "is out of range";
        else if (a->check == DCF__C_ODD && x % 2 == 0) bad = "must be odd";
    } else if (a->kind == DCF__A_BOOL) {
        if (ty != DCF__J_TRUE && ty != DCF__J_FALSE) bad = "must be true or false";
    } else if (a->kind == DCF__A_FLOAT || a->kind == DCF__A_FLOATN) {
        double x;
        if (ty == DCF__J_NULL && a->kind == DCF__A_FLOATN) return DCF_OK;
        if (ty != DCF__J_INT && ty != DCF__J_FLT) bad = "must be a number";
        else if (!dcf__graph_double(g, v, &x)) return dcf__fail(g->err, DCF_E_LIMIT, NULL, "GRPH", 0, 0, "allocation failed");
        else if (!dcf__graph_in_range(a, x)) bad = "is out of range";
    } else { /* INTS */
        uint32_t m, e, seen = 0, infer = 0;
        if (ty != DCF__J_ARR) bad = "must be a list of integers";
        else if (g->t[v].count < a->len_lo || g->t[v].count > a->len_hi) bad = "has a wrong number of entries";
        for (m = 0, e = v + 1; !bad && m < g->t[v].count; m++, e = g->t[e].next) {
            int64_t x;
            if (g->t[e].type != DCF__J_INT) { bad = "must contain only integers"; break; }
            x = dcf__graph_int(g, e);
            if (!dcf__graph_in_range(a, (double)x)) bad = "has an entry out of range";
            else if (a->check == DCF__C_PERM) { if (seen >> x & 1) bad = "is not a permutation of 0..n-1"; seen |= 1u << x; }
            else if (a->check == DCF__C_ONE_INFER && x == -1 && infer++) bad = "has more than one -1";
        }
        /* PERM: n distinct entries in [0, 7]; a permutation of 0..n-1 iff all are < n */
        if (!bad && a->check == DCF__C_PERM && seen >> g->t[v].count) bad = "is not a permutation of 0..n-1";
        if (!bad) *count = g->t[v].count;
    }
    if (bad)
        return DCF__GFAIL(g, v, "GRPH.attrs", "node '%.*s' (%s): attribute '%s' %s", DCF__GSTR(g, node), op->name, a->name, bad);
    return DCF_OK;
}

static dcf_status dcf__graph_node(dcf__graph *g, uint32_t k) {
    static const char *const keys[5] = {"op", "name", "inputs", "outputs", "attrs"};
    uint32_t v[5], m, c, split_len = 0;
    unsigned oi, ai;
    const dcf__op *op = NULL;
    dcf_status s;
    if ((s = dcf__graph_keys(g, k, keys, 5, v, "GRPH.nodes"))) return s;
    if ((s = dcf__graph_name(g, v[1], "GRPH.nodes.name", "a node name"))) return s;
    for (m = 2; m <= 3; m++) {
        if (g->t[v[m]].type != DCF__J_ARR)
            return DCF__GFAIL(g, v[m], "GRPH.nodes", "node '%.*s': '%s' must be a list of names", DCF__GSTR(g, v[1]), keys[m]);
        for (oi = 0, c = v[m] + 1; oi < g->t[v[m]].count; oi++, c = g->t[c].next)
            if ((s = dcf__graph_name(g, c, m == 2 ? "GRPH.nodes.inputs" : "GRPH.nodes.outputs", "a value name"))) return s;
    }
    if (g->t[v[0]].type != DCF__J_STR) return DCF__GFAIL(g, v[0], "GRPH.op", "node '%.*s': 'op' must be a string", DCF__GSTR(g, v[1]));
    for (oi = 0; oi < sizeof dcf__ops / sizeof dcf__ops[0]; oi++)
        if (dcf__graph_is(g, v[0], dcf__ops[oi].name)) { op = &dcf__ops[oi]; break; }
    if (!op) return DCF__GFAIL(g, v[0], "GRPH.op", "node '%.*s': unknown op '%.*s'", DCF__GSTR(g, v[1]), DCF__GSTR(g, v[0]));
    if (op->since > g->version)
        return DCF__GFAIL(g, v[0], "GRPH.op", "node '%.*s': op %s needs graph_version >= %u, the graph declares %d",
                          DCF__GSTR(g, v[1]), op->name, (unsigned)op->since, (int)g->version);
    if (dcf__graph_add(g, 'N', v[1])) return DCF__GFAIL(g, v[1], "GRPH.nodes.name", "node name '%.*s' is used twice", DCF__GSTR(g, v[1]));
    /* attributes: known keys only, each checked, required ones present */
    if (g->t[v[4]].type != DCF__J_OBJ) return DCF__GFAIL(g, v[4], "GRPH.attrs", "node '%.*s' (%s): 'attrs' must be an object", DCF__GSTR(g, v[1]), op->name);
    for (m = 0, c = v[4] + 1; m < g->t[v[4]].count; m++, c = g->t[c + 1].next) {
        for (ai = 0; ai < op->nattrs && !dcf__graph_is(g, c, op->attrs[ai].name); ai++) {}
        if (ai == op->nattrs) return DCF__GFAIL(g, c, "GRPH.attrs", "node '%.*s' (%s): unknown attribute '%.*s'", DCF__GSTR(g, v[1]), op->name, DCF__GSTR(g, c));
    }
    for (ai = 0; ai < op->nattrs; ai++) {
        uint32_t found = 0, count = 0;
        for (m = 0, c = v[4] + 1; m < g->t[v[4]].count && !found; m++, c = g->t[c + 1].next)
            if (dcf__graph_is(g, c, op->attrs[ai].name)) found = c + 1;
        if (!found) {
            if (op->attrs[ai].required)
                return DCF__GFAIL(g, v[4], "GRPH.attrs", "node '%.*s' (%s): missing required attribute '%s'", DCF__GSTR(g, v[1]), op->name, op->attrs[ai].name);
            continue;
        }
        if ((s = dcf__graph_attr(g, v[1], op, &op->attrs[ai], found, &count))) return s;
        if (strcmp(op->attrs[ai].name, "split") == 0) split_len = count;
    }
    if (g->t[v[2]].count < op->in_lo || g->t[v[2]].count > op->in_hi)
        return DCF__GFAIL(g, v[2], "GRPH.nodes.inputs", "node '%.*s' (%s) takes %u..%u inputs, got %u", DCF__GSTR(g, v[1]), op->name,
                          (unsigned)op->in_lo, (unsigned)op->in_hi, (unsigned)g->t[v[2]].count);
    if (g->t[v[3]].count < op->out_lo || g->t[v[3]].count > op->out_hi)
        return DCF__GFAIL(g, v[3], "GRPH.nodes.outputs", "node '%.*s' (%s) has %u..%u outputs, got %u", DCF__GSTR(g, v[1]), op->name,
                          (unsigned)op->out_lo, (unsigned)op->out_hi, (unsigned)g->t[v[3]].count);
    if (strcmp(op->name, "Split") == 0 && split_len != g->t[v[3]].count)
        return DCF__GFAIL(g, v[4], "GRPH.attrs", "node '%.*s' (Split): 'split' has %u sizes for %u outputs", DCF__GSTR(g, v[1]),
                          (unsigned)split_len, (unsigned)g->t[v[3]].count);
    /* SSA (§3.1): stored inputs name tensors; others a tensor or a value defined earlier; outputs are new values */
    for (m = 0, c = v[2] + 1; m < g->t[v[2]].count; m++, c = g->t[c].next) {
        int tensor = dcf__graph_has(g, 'T', c);
        if (m < 8 && (op->stored >> m & 1) && !tensor)
            return DCF__GFAIL(g, c, "GRPH.nodes.inputs", "node '%.*s' (%s): input %u '%.*s' must be a stored tensor, and the file has none of that name",
                              DCF__GSTR(g, v[1]), op->name, (unsigned)m, DCF__GSTR(g, c));
        if (!tensor && !dcf__graph_has(g, 'V', c))
            return DCF__GFAIL(g, c, "GRPH.nodes.inputs", "node '%.*s' (%s): input '%.*s' is neither a stored tensor nor a value defined earlier",
                              DCF__GSTR(g, v[1]), op->name, DCF__GSTR(g, c));
    }
    for (m = 0, c = v[3] + 1; m < g->t[v[3]].count; m++, c = g->t[c].next) {
        if (dcf__graph_has(g, 'T', c))
            return DCF__GFAIL(g, c, "GRPH.nodes.outputs", "node '%.*s': output '%.*s' has the same name as a stored tensor", DCF__GSTR(g, v[1]), DCF__GSTR(g, c));
        if (dcf__graph_add(g, 'V', c))
            return DCF__GFAIL(g, c, "GRPH.nodes.outputs", "node '%.*s': output '%.*s' is defined twice", DCF__GSTR(g, v[1]), DCF__GSTR(g, c));
    }
    return DCF_OK;
}

static dcf_status dcf__graph_check(dcf__graph *g) {
    static const char *const keys[4] = {"graph_version", "inputs", "outputs", "nodes"};
    static const uint32_t caps[3] = {64, 64, 100000};
    uint32_t v[4], m, c, name;
    unsigned k;
    dcf_status s;
    size_t i;
    if ((s = dcf__graph_keys(g, 0, keys, 4, v, "GRPH"))) return s;
    if (g->t[v[0]].type != DCF__J_INT) return DCF__GFAIL(g, v[0], "GRPH.graph_version", "'graph_version' must be an integer");
    g->version = dcf__graph_int(g, v[0]);
    if (g->version < 1 || g->version > 2)
        return DCF__GFAIL(g, v[0], "GRPH.graph_version", "graph_version %lld is not supported (this reader knows 1..2)", (long long)g->version);
    for (k = 0; k < 3; k++) {
        if (g->t[v[k + 1]].type != DCF__J_ARR) return DCF__GFAIL(g, v[k + 1], "GRPH", "'%s' must be a list", keys[k + 1]);
        if (g->t[v[k + 1]].count > caps[k])
            return DCF__GFAIL(g, v[k + 1], keys[k + 1], "%u %s exceed the limit of %u", (unsigned)g->t[v[k + 1]].count, keys[k + 1], (unsigned)caps[k]);
    }
    if (g->t[v[1]].count == 0) return DCF__GFAIL(g, v[1], "GRPH.inputs", "graph has no inputs");
    if (g->t[v[2]].count == 0) return DCF__GFAIL(g, v[2], "GRPH.outputs", "graph has no outputs");
    for (i = 0; i < g->f->count; i++)
        dcf__graph_set(g, 'T', (const uint8_t *)g->f->tensors[i].name, g->f->tensors[i].name_len, 1);
    for (m = 0, c = v[1] + 1; m < g->t[v[1]].count; m++, c = g->t[c].next) {
        if ((s = dcf__graph_valueinfo(g, c, 0, &name))) return s;
        if (dcf__graph_has(g, 'T', name)) return DCF__GFAIL(g, name, "GRPH.inputs", "input '%.*s' has the same name as a stored tensor", DCF__GSTR(g, name));
        if (dcf__graph_add(g, 'V', name)) return DCF__GFAIL(g, name, "GRPH.inputs", "input '%.*s' is declared twice", DCF__GSTR(g, name));
    }
    for (m = 0, c = v[3] + 1; m < g->t[v[3]].count; m++, c = g->t[c].next)
        if ((s = dcf__graph_node(g, c))) return s;
    for (m = 0, c = v[2] + 1; m < g->t[v[2]].count; m++, c = g->t[c].next) {
        if ((s = dcf__graph_valueinfo(g, c, 1, &name))) return s;
        if (!dcf__graph_has(g, 'V', name)) return DCF__GFAIL(g, name, "GRPH.outputs", "output '%.*s' is not produced by any node or input", DCF__GSTR(g, name));
        if (dcf__graph_add(g, 'O', name)) return DCF__GFAIL(g, name, "GRPH.outputs", "output '%.*s' is listed twice", DCF__GSTR(g, name));
    }
    return DCF_OK;
}

/* Syntax (GRAPH.md §2) then schema (§3-§4) of the GRPH payload at file offset `at`. */
static dcf_status dcf__graph_validate(const dcf_file *f, const uint8_t *p, size_t n, uint64_t at, dcf_error *err) {
    dcf__graph g;
    const char *why = NULL;
    size_t ntok = 0;
    uint64_t slots = 16, bytes = 0;
    dcf_status s;
    uint32_t depth = f->limits.max_json_depth < 8 ? f->limits.max_json_depth : 8;
    if (n > ((uint64_t)16 << 20)) return dcf__fail(err, DCF_E_GRAPH, NULL, "GRPH", 1, at, "payload of %llu bytes > 16 MiB (GRAPH.md §2)", (unsigned long long)n);
    s = dcf__json_check(f, p, n, depth, &why, &ntok);
    if (s == DCF_E_METADATA) s = DCF_E_GRAPH;
    if (s) return dcf__fail(err, s, NULL, "GRPH", 1, at, "%s", why);
    memset(&g, 0, sizeof g);
    g.f = f; g.err = err; g.p = p; g.base = at;
    while (slots < 2 * ((uint64_t)ntok + f->count)) slots *= 2; /* ntok <= n <= 16 MiB, count <= 2^32: no overflow */
    g.mask = slots - 1;
    g.t = (dcf__tok *)dcf__alloc_n(f, (uint64_t)ntok, sizeof(dcf__tok));
    g.sbuf = (uint8_t *)dcf__alloc_n(f, (uint64_t)n, 1);
    if (dcf__mul(slots, sizeof(dcf__gslot), &bytes)) g.set = (dcf__gslot *)dcf__alloc(f, bytes);
    if (!g.t || !g.sbuf || !g.set) s = dcf__fail(err, DCF_E_LIMIT, NULL, "GRPH", 1, at, "allocation failed");
    else {
        memset(g.set, 0, (size_t)bytes);
        dcf__graph_tokens(&g, n);
        s = dcf__graph_check(&g);
    }
    dcf__release(f, g.t);
    dcf__release(f, g.sbuf);
    dcf__release(f, g.set);
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
    if (dcf__crc(d + 8, 12) != dcf__le32(d + 20)) return dcf__fail(err, DCF_E_CHECKSUM, NULL, "header_crc", 1, 20, "header CRC mismatch");
    flags = dcf__le32(d + 12);
    if (flags & 0xFFFEu) return dcf__fail(err, DCF_E_UNSUPPORTED_FEATURE, NULL, "flags", 1, 12, "unknown must-understand flag bits 0x%04X set (this reader knows bit 0, RANS_STREAMS)", (unsigned)(flags & 0xFFFEu));
    if ((flags & DCF_FLAG_RANS_STREAMS) && ((unsigned)d[10] | (unsigned)d[11] << 8) == 0)
        return dcf__fail(err, DCF_E_UNSUPPORTED_FEATURE, NULL, "flags", 1, 12, "flag bit 0 (RANS_STREAMS) is defined from version 1.1; this file says 1.0");
    f->flags = flags & 0xFFFFu;
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
        if (dcf__crc(d + pos, (size_t)(16 + len)) != dcf__le32(d + end))
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
            if (is_meta) {
                s = dcf__json_check(f, d + pos + 16, (size_t)len, f->limits.max_json_depth, &why, NULL);
                if (s) return dcf__fail(err, s, NULL, "META", 1, pos + 16, "%s", why);
                seen_meta = 1; f->meta = d + pos + 16; f->meta_len = (size_t)len;
            } else { /* checked once the whole container is (GRAPH.md needs the tensor names), as the library does */
                seen_graph = 1; f->graph = d + pos + 16; f->graph_len = (size_t)len;
            }
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
    if (f->graph) return dcf__graph_validate(f, f->graph, f->graph_len, (uint64_t)(f->graph - d), err);
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
    uint64_t lut[1u << DCF_LUT_BITS]; /* bits 0-47: up to 3 symbols of 16 bits (wide streams: one of 32 bits),
                                         48-49: how many (0 = code longer than the LUT), 50-51: how many of them are
                                         0, 56-61: bits they take */
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

/* One symbol stream (§6), split in two steps so that two streams can be decoded interleaved: dcf__job_open reads and
 * checks the header and table (HUFFMAN: builds the decoding tables) and steps over the data; dcf__job_decode decodes
 * and checks the data. `wide`: uint32 symbols, else uint16 (only for alphabets <= 2^16). */
/* Which context models a stream allows (§6.1.3): row counts and DENSE values NONE only, gap streams also PREV_GAP,
 * SPARSE values also ROW_CLASS. */
enum { DCF__S_PLAIN = 0, DCF__S_GAPS = 1, DCF__S_VALUES = 2 };
enum { DCF__M_NONE = 0, DCF__M_PREV_GAP = 1, DCF__M_ROW_CLASS = 2 };

/* A RANS stream (§6.1) after its header, tables, states and words were checked (checks 1-6 of §6.1.1). */
typedef struct {
    unsigned K, lanes, model, nctx;
    uint64_t T, nwords, at_params, at_states, at_words;
    const uint8_t *states, *words;
    uint32_t *cum;          /* nctx x (T + 1): cum[c][s] = f[0] + ... + f[s-1] of used table c */
    uint64_t *lut;          /* nctx x 2^K slot entries (symbol | slot - cum << 16 | f << 32), or NULL: search cum */
    uint8_t used[16];
    /* ROW_CLASS: the row counts and class thresholds of the SPARSE tensor (set by the caller before decoding) */
    const uint32_t *rc_counts;
    const uint64_t *rc_class_min;
    uint64_t rc_rows;
    unsigned rc_classes;
} dcf__rans;

typedef struct {
    unsigned coding, width;
    int wide;
    uint64_t n, alphabet, sym, at, nbytes, bits;
    const uint8_t *d;
    dcf__huff *h;
    dcf__rans *r;
    uint64_t zeros;         /* narrow HUFFMAN streams: symbols equal to 0 (a gap stream's fillers), counted as decoded */
    int zeros_known, zeros_skipped; /* skipped: dcf__huff_fast2 did not count them (the value stream) */
    char field[48];
} dcf__job;

static void dcf__job_free(const dcf_file *f, dcf__job *j) {
    if (j->h) { dcf__release(f, j->h->sorted); dcf__release(f, j->h); j->h = NULL; }
    if (j->r) { dcf__release(f, j->r->cum); dcf__release(f, j->r->lut); dcf__release(f, j->r); j->r = NULL; }
}

static unsigned dcf__bit_length(uint64_t v) {
    unsigned b = 0;
    while (v) { b++; v >>= 1; }
    return b;
}

/* §6.1.1 checks 1-6 and the tables of §6.1.2, in the spec's order; the coding byte has been read (at `at_coding`).
 * `kind`: the models the stream allows; `nclasses`: n_ctx of ROW_CLASS. */
static dcf_status dcf__rans_open(const dcf_file *f, dcf__cur *c, dcf__job *j, const char *what, uint64_t at_coding,
                                 unsigned kind, unsigned nclasses) {
    dcf__rans *r;
    unsigned params, kf, jl, model, ctx;
    uint64_t at, M, T, nwords, n = j->n, avail, total_bits, pos = 0, tbytes, S, N, rem, stream_bytes, k, used_ctx = 0;
    const uint8_t *tab;
    int last_used = 0;
    dcf_status s;
    if (!(f->flags & DCF_FLAG_RANS_STREAMS))
        return DCF__FAIL(c, DCF_E_UNSUPPORTED_FEATURE, j->field, at_coding, "RANS stream (coding 3) in a file whose header flag bit 0 (RANS_STREAMS) is clear");
    snprintf(j->field, sizeof j->field, "%s.params", what);
    at = c->pos;
    if ((s = dcf__u8(c, j->field, &params))) return s;
    kf = params & 7; jl = (params >> 3) & 7; model = params >> 6;
    if (kf > 5) return DCF__FAIL(c, DCF_E_RANS_TABLE, j->field, at, "K field %u: K = %u outside 10..15", kf, kf + 10);
    if (jl > 5) return DCF__FAIL(c, DCF_E_LIMIT, j->field, at, "j = %u: %u lanes > 32", jl, 1u << jl);
    if (!(model == DCF__M_NONE || (model == DCF__M_PREV_GAP && kind == DCF__S_GAPS) ||
          (model == DCF__M_ROW_CLASS && kind == DCF__S_VALUES)))
        return DCF__FAIL(c, DCF_E_UNSUPPORTED_FEATURE, j->field, at, "context model %u is %s", model,
                         model == 3 ? "reserved" : "not allowed for this stream (PREV_GAP: gap streams; ROW_CLASS: SPARSE values)");
    r = j->r = (dcf__rans *)dcf__alloc(f, sizeof *r);
    if (!r) return DCF__FAIL(c, DCF_E_LIMIT, j->field, at, "allocation failed");
    memset(r, 0, sizeof *r);
    r->at_params = at;
    r->K = 10 + kf; r->lanes = 1u << jl; r->model = model;
    r->nctx = model == DCF__M_NONE ? 1 : (model == DCF__M_PREV_GAP ? 6 : nclasses);
    M = (uint64_t)1 << r->K;
    N = r->lanes;
    snprintf(j->field, sizeof j->field, "%s.T", what);
    at = c->pos;
    if ((s = dcf__varint(c, j->field, &T))) return s;
    if (T < 2 || T > j->alphabet || T > M)
        return DCF__FAIL(c, DCF_E_RANS_TABLE, j->field, at, "T = %llu outside 2..min(alphabet %llu, 2^K = %llu)", (unsigned long long)T, (unsigned long long)j->alphabet, (unsigned long long)M);
    r->T = T;
    snprintf(j->field, sizeof j->field, "%s.nwords", what);
    if ((s = dcf__varint(c, j->field, &nwords))) return s;
    r->nwords = nwords;
    /* tables (§6.1.2): read field by field, each before the next; cum rows of unused contexts stay unset */
    snprintf(j->field, sizeof j->field, "%s.tables", what);
    at = c->pos;
    r->cum = (uint32_t *)dcf__alloc_n(f, (uint64_t)r->nctx * (T + 1), 4); /* <= 16 x (2^15 + 1) entries */
    if (!r->cum) return DCF__FAIL(c, DCF_E_LIMIT, j->field, at, "allocation failed");
    tab = c->base + c->pos;
    avail = c->end - c->pos;
    total_bits = avail > ((uint64_t)1 << 60) ? ((uint64_t)1 << 63) : avail * 8;
    for (ctx = 0; ctx < r->nctx; ctx++) {
        uint32_t *cum = r->cum + (uint64_t)ctx * (T + 1);
        uint64_t R = M;
        if (pos + 1 > total_bits) return DCF__FAIL(c, DCF_E_TRUNCATED, j->field, at + avail, "the tables end inside the used bit of table %u", ctx);
        r->used[ctx] = (uint8_t)(dcf__peek_safe(tab, avail, pos) >> 63);
        pos++;
        if (!r->used[ctx]) continue;
        used_ctx++;
        cum[0] = 0;
        for (k = 0; k + 1 < T; k++) {
            unsigned w = dcf__bit_length(R);
            uint64_t v = 0;
            if (w) {
                if (w > total_bits - pos) return DCF__FAIL(c, DCF_E_TRUNCATED, j->field, at + avail, "the tables end inside table %u, frequency %llu", ctx, (unsigned long long)k);
                v = dcf__peek_safe(tab, avail, pos) >> (64 - w);
                if (v > R) return DCF__FAIL(c, DCF_E_RANS_TABLE, j->field, at + pos / 8, "table %u: frequency %llu of symbol %llu exceeds the remaining budget %llu (frequencies sum to 2^%u)", ctx, (unsigned long long)v, (unsigned long long)k, (unsigned long long)R, r->K);
                pos += w;
            }
            cum[k + 1] = (uint32_t)(M - R + v);
            R -= v;
        }
        cum[T] = (uint32_t)M; /* f[T-1] = R, implied */
        if (R) last_used = 1;
    }
    if (!used_ctx) return DCF__FAIL(c, DCF_E_RANS_TABLE, j->field, at, "no table is used (at least one context needs a table)");
    if (!last_used) return DCF__FAIL(c, DCF_E_RANS_TABLE, j->field, at + (pos ? (pos - 1) / 8 : 0), "symbol T-1 = %llu has frequency 0 in every table: T must be minimal", (unsigned long long)(T - 1));
    tbytes = (pos + 7) / 8;
    if (!dcf__tail_ok(tab, tbytes, pos)) return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, at + tbytes - 1, "non-zero padding bits after the tables");
    c->pos += tbytes;
    /* check 3: every lane owns at least one symbol */
    S = n / N + (n % N != 0);
    snprintf(j->field, sizeof j->field, "%s.params", what);
    if (!((N - 1) * S < n)) /* (N - 1) S < n + N: no overflow */
        return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, r->at_params, "%llu lanes for %llu symbols: a lane would own no symbol", (unsigned long long)N, (unsigned long long)n);
    /* check 4: states and words present */
    snprintf(j->field, sizeof j->field, "%s.states", what);
    rem = c->end - c->pos;
    if (rem < 4 * N || nwords > (rem - 4 * N) / 2)
        return DCF__FAIL(c, DCF_E_TRUNCATED, j->field, c->pos, "%llu states and %llu words need %llu bytes or more, %llu remain", (unsigned long long)N, (unsigned long long)nwords, (unsigned long long)(4 * N + (nwords < rem ? 2 * nwords : rem)), (unsigned long long)rem);
    /* check 5: MAX_RANS_RATIO over the whole stream, coding byte to last word */
    stream_bytes = (c->pos - at_coding) + 4 * N + 2 * nwords;
    if (n / DCF_RANS_MAX_RATIO > stream_bytes || (n / DCF_RANS_MAX_RATIO == stream_bytes && n % DCF_RANS_MAX_RATIO))
        return DCF__FAIL(c, DCF_E_LIMIT, j->field, at_coding, "%llu symbols from a %llu-byte RANS stream: more than %u per byte (MAX_RANS_RATIO)", (unsigned long long)n, (unsigned long long)stream_bytes, DCF_RANS_MAX_RATIO);
    /* check 6: initial states >= L */
    r->states = c->base + c->pos;
    r->at_states = c->pos;
    for (k = 0; k < N; k++)
        if (dcf__le32(r->states + 4 * k) < DCF_RANS_L)
            return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, c->pos + 4 * k, "initial state of lane %llu is %u < L = 2^16", (unsigned long long)k, (unsigned)dcf__le32(r->states + 4 * k));
    c->pos += 4 * N;
    snprintf(j->field, sizeof j->field, "%s.words", what);
    r->words = c->base + c->pos;
    r->at_words = j->at = c->pos;
    c->pos += 2 * nwords;
    /* slot tables when the stream is long enough to pay for them (2^K entries per used table), else a search of cum */
    if (n >= used_ctx * (M / 4)) {
        r->lut = (uint64_t *)dcf__alloc_n(f, (uint64_t)r->nctx * M, 8); /* <= 16 x 2^15 x 8 bytes */
        if (!r->lut) return DCF__FAIL(c, DCF_E_LIMIT, j->field, at_coding, "allocation failed");
        for (ctx = 0; ctx < r->nctx; ctx++) {
            const uint32_t *cum = r->cum + (uint64_t)ctx * (T + 1);
            uint64_t *lut = r->lut + (uint64_t)ctx * M, sym;
            if (!r->used[ctx]) continue;
            for (sym = 0; sym < T; sym++) {
                uint64_t fr = cum[sym + 1] - cum[sym], b;
                for (b = 0; b < fr; b++) lut[cum[sym] + b] = sym | b << 16 | fr << 32;
            }
        }
    }
    return DCF_OK;
}

static dcf_status dcf__job_open(const dcf_file *f, dcf__cur *c, uint64_t n, uint64_t alphabet, const char *what,
                                int wide, unsigned kind, unsigned nclasses, dcf__job *j) {
    uint64_t at = c->pos;
    dcf_status s;
    memset(j, 0, sizeof *j);
    j->n = n;
    j->alphabet = alphabet;
    j->wide = wide;
    snprintf(j->field, sizeof j->field, "%s.coding", what);
    if ((s = dcf__u8(c, j->field, &j->coding))) return s;
    if (j->coding > 3) return DCF__FAIL(c, DCF_E_UNSUPPORTED_FEATURE, j->field, at, "unknown stream coding %u", j->coding);
    if (j->coding == 3) return dcf__rans_open(f, c, j, what, at, kind, nclasses);
    if (j->coding == 2) { /* CONSTANT */
        snprintf(j->field, sizeof j->field, "%s.symbol", what);
        at = c->pos;
        if ((s = dcf__varint(c, j->field, &j->sym))) return s;
        if (j->sym >= alphabet) return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, at, "CONSTANT symbol %llu >= alphabet %llu", (unsigned long long)j->sym, (unsigned long long)alphabet);
        j->at = at;
        return DCF_OK;
    }
    if (j->coding == 0) { /* FIXED */
        snprintf(j->field, sizeof j->field, "%s.width", what);
        at = c->pos;
        if ((s = dcf__u8(c, j->field, &j->width))) return s;
        if (j->width < 1 || j->width > 32) return DCF__FAIL(c, DCF_E_LIMIT, j->field, at, "FIXED width %u outside 1..32", j->width);
        snprintf(j->field, sizeof j->field, "%s.data", what);
        at = c->pos;
        if (!dcf__mul(n, j->width, &j->bits) || j->bits / 8 + ((j->bits & 7) ? 1 : 0) > c->end - c->pos)
            return DCF__FAIL(c, DCF_E_TRUNCATED, j->field, at, "%llu symbols of %u bits run past the end", (unsigned long long)n, j->width);
        j->nbytes = j->bits / 8 + ((j->bits & 7) ? 1 : 0);
        j->d = c->base + c->pos;
        j->at = at;
        c->pos += j->nbytes;
        if (!dcf__tail_ok(j->d, j->nbytes, j->bits)) return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, at, "non-zero padding bits");
        return DCF_OK;
    }
    { /* HUFFMAN */
        unsigned lw, L;
        uint64_t T, tbytes, i, kraft = 0, used = 0, at_nbytes;
        const uint8_t *tab;
        dcf__huff *h;
        uint32_t next[DCF_MAX_CODE_LEN + 2];
        snprintf(j->field, sizeof j->field, "%s.lw", what);
        at = c->pos;
        if ((s = dcf__u8(c, j->field, &lw))) return s;
        if (lw < 1 || lw > 5) return DCF__FAIL(c, DCF_E_HUFFMAN_TABLE, j->field, at, "length field width %u outside 1..5", lw);
        snprintf(j->field, sizeof j->field, "%s.T", what);
        at = c->pos;
        if ((s = dcf__varint(c, j->field, &T))) return s;
        if (T < 2 || T > alphabet) return DCF__FAIL(c, DCF_E_HUFFMAN_TABLE, j->field, at, "T = %llu outside 2..%llu", (unsigned long long)T, (unsigned long long)alphabet);
        snprintf(j->field, sizeof j->field, "%s.nbytes", what);
        at_nbytes = c->pos;
        if ((s = dcf__varint(c, j->field, &j->nbytes))) return s;
        snprintf(j->field, sizeof j->field, "%s.lengths", what);
        at = c->pos;
        tbytes = (T * lw + 7) / 8; /* T <= 2^32, lw <= 5: no overflow */
        if ((s = dcf__need(c, tbytes, j->field))) return s;
        tab = c->base + c->pos;
        c->pos += tbytes;
        if (!dcf__tail_ok(tab, tbytes, T * lw)) return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, at, "non-zero padding bits");
        h = j->h = (dcf__huff *)dcf__alloc(f, sizeof *h);
        if (!h) return DCF__FAIL(c, DCF_E_LIMIT, j->field, at, "allocation failed");
        memset(h->count, 0, sizeof h->count);
        h->sorted = NULL;
        h->maxlen = 0;
        for (i = 0; i < T; i++) {
            unsigned len = (unsigned)(dcf__peek_safe(tab, tbytes, i * lw) >> (64 - lw));
            if (len > DCF_MAX_CODE_LEN) return DCF__FAIL(c, DCF_E_HUFFMAN_TABLE, j->field, at + i * lw / 8, "code length %u of symbol %llu > 24", len, (unsigned long long)i);
            h->count[len]++;
            if (len > h->maxlen) h->maxlen = len;
            if (i == T - 1 && len == 0) return DCF__FAIL(c, DCF_E_HUFFMAN_TABLE, j->field, at, "lengths[T-1] is 0");
        }
        for (L = 1; L <= DCF_MAX_CODE_LEN; L++) { kraft += (uint64_t)h->count[L] << (DCF_MAX_CODE_LEN - L); used += h->count[L]; }
        if (used < 2) return DCF__FAIL(c, DCF_E_HUFFMAN_TABLE, j->field, at, "fewer than two used symbols");
        if (kraft != ((uint64_t)1 << DCF_MAX_CODE_LEN)) return DCF__FAIL(c, DCF_E_HUFFMAN_TABLE, j->field, at, "incomplete or over-subscribed code (Kraft sum %llu/2^24)", (unsigned long long)kraft);
        if (n / 8 > j->nbytes || (n / 8 == j->nbytes && (n & 7))) return DCF__FAIL(c, DCF_E_LIMIT, j->field, at_nbytes, "%llu symbols cannot fit in %llu bytes", (unsigned long long)n, (unsigned long long)j->nbytes);
        snprintf(j->field, sizeof j->field, "%s.data", what);
        j->at = c->pos;
        if ((s = dcf__need(c, j->nbytes, j->field))) return s;
        j->d = c->base + c->pos;
        c->pos += j->nbytes;
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
        if (!h->sorted) return DCF__FAIL(c, DCF_E_LIMIT, j->field, j->at, "allocation failed");
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
                unsigned bits = 0, nsym = 0, nzero = 0;
                uint64_t e = 0;
                while (nsym < (h->multi ? 3u : 1u)) {
                    uint32_t sub = (w << bits) & ((1u << DCF_LUT_BITS) - 1);
                    unsigned l = h->single_len[sub];
                    if (!l || l > DCF_LUT_BITS - bits) break;
                    if (h->multi) e |= (uint64_t)h->single_sym[sub] << (16 * nsym);
                    else e |= (uint64_t)h->single_sym[sub];
                    nzero += h->single_sym[sub] == 0;
                    bits += l;
                    nsym++;
                }
                h->lut[w] = e | (uint64_t)nsym << 48 | (uint64_t)nzero << 50 | (uint64_t)bits << 56;
            }
        }
        return DCF_OK;
    }
}

static unsigned dcf__rans_class(const dcf__rans *r, uint32_t count) {
    unsigned k = 0;
    while (k + 1 < r->rc_classes && r->rc_class_min[k] <= count) k++;
    return k;
}

/* One rANS step of a lane: symbol `sym` out of state `xv` in context `ctx` (a used table), state advanced and
 * renormalised from the words (§6.1.4); `bad` is set when the words are exhausted. */
#define DCF__RANS_STEP(ctx, xv, sym)                                                                                  \
    do {                                                                                                              \
        uint32_t slot_ = (xv) & mask, f_, b_;                                                                         \
        if (lut) {                                                                                                    \
            uint64_t e_ = lut[((uint64_t)(ctx) << K) + slot_];                                                        \
            sym = (uint32_t)e_ & 0xFFFFu; b_ = (uint32_t)(e_ >> 16) & 0xFFFFu; f_ = (uint32_t)(e_ >> 32);             \
        } else { /* the largest s with cum[s] <= slot (then cum[s + 1] > slot: f[s] > 0) */                           \
            const uint32_t *cum_ = r->cum + (uint64_t)(ctx) * (T + 1);                                                \
            uint64_t lo_ = 0, hi_ = T; /* cum_[lo_] <= slot < cum_[hi_] */                                            \
            while (hi_ - lo_ > 1) { uint64_t mid_ = (lo_ + hi_) / 2; if (cum_[mid_] <= slot_) lo_ = mid_; else hi_ = mid_; } \
            sym = (uint32_t)lo_; b_ = slot_ - cum_[lo_]; f_ = cum_[lo_ + 1] - cum_[lo_];                              \
        }                                                                                                             \
        xv = f_ * ((xv) >> K) + b_;                                                                                   \
        if ((xv) < DCF_RANS_L) {                                                                                      \
            if (p == nwords) { bad = 1; break; }                                                                      \
            xv = (xv) << 16 | (uint32_t)words[2 * p] | (uint32_t)words[2 * p + 1] << 8;                              \
            p++;                                                                                                      \
        }                                                                                                             \
    } while (0)

/* Decode a checked RANS stream (§6.1.4) into `out` (uint16 or uint32 symbols); every failure is [Bitstream]. */
static dcf_status dcf__rans_decode(dcf__cur *c, dcf__job *j, void *out) {
    const dcf__rans *r = j->r;
    const uint64_t *lut = r->lut;
    const uint8_t *words = r->words;
    uint64_t n = j->n, N = r->lanes, S = n / N + (n % N != 0), last = n - (N - 1) * S, T = r->T, t, p = 0;
    uint64_t nwords = r->nwords, lrow[32], lrem[32];
    unsigned K = r->K, l, lctx[32];
    uint32_t mask = (1u << K) - 1, x[32];
    uint16_t *o16 = (uint16_t *)out;
    uint32_t *o32 = (uint32_t *)out;
    int bad = 0;
    for (l = 0; l < N; l++) { x[l] = dcf__le32(r->states + 4 * l); lctx[l] = 0; lrow[l] = lrem[l] = 0; }
    if (r->model == DCF__M_ROW_CLASS) { /* each lane starts in the row holding entry l S */
        uint64_t acc = 0, row = 0;
        for (row = 0; row < r->rc_rows; row++) /* contexts are known up front: name the row, not a lane */
            if (r->rc_counts[row] && !r->used[dcf__rans_class(r, r->rc_counts[row])])
                return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, r->at_states, "row %llu (class %u) has entries, but table %u is not used", (unsigned long long)row, dcf__rans_class(r, r->rc_counts[row]), dcf__rans_class(r, r->rc_counts[row]));
        row = 0;
        for (l = 0; l < N; l++) {
            uint64_t target = l * S;
            while (row < r->rc_rows && acc + r->rc_counts[row] <= target) acc += r->rc_counts[row++];
            if (row >= r->rc_rows) break; /* unreachable: target < n = the sum of the counts */
            lrow[l] = row;
            lrem[l] = acc + r->rc_counts[row] - target;
            lctx[l] = dcf__rans_class(r, r->rc_counts[row]);
        }
    }
    if (r->model == DCF__M_NONE && lut && !j->wide) {
        /* The common case, without contexts. Zeros are counted on the way: a gap stream's fillers
         * (dcf__sparse_read). First the steps where every lane is live and at least N words remain (a step reads at
         * most one word per lane): no bounds check, and a branch-free renormalisation, every lane reading the next
         * word and keeping it when its state fell below L (p advances by that comparison). A renormalisation is as
         * likely as a symbol's bits / 16 (~40 % on codebook indices), so the branch of the checked loop below
         * mispredicts often; this loop measured 2.3x faster on the 4096 x 4096 FC (benchmarks/bench_c_decode.py). */
        uint64_t z = 0, tf = last < S ? last : S;
#define DCF__RANS_FAST(ZC)                                                                                            \
        for (t = 0; t < tf && p + N <= nwords; t++) {                                                                 \
            uint16_t *o = o16 + t;                                                                                    \
            for (l = 0; l < N; l++) {                                                                                 \
                uint32_t xv = x[l], w = DCF__LE16(words + 2 * p), rn;                                                 \
                uint64_t e = lut[xv & mask];                                                                          \
                xv = (uint32_t)(e >> 32) * (xv >> K) + ((uint32_t)(e >> 16) & 0xFFFFu);                               \
                rn = xv < DCF_RANS_L;                                                                                 \
                x[l] = xv << (rn << 4) | (w & (0u - rn)); /* arithmetic, not ?: (compiled to a branch) */             \
                p += rn;                                                                                              \
                o[l * S] = (uint16_t)e;                                                                               \
                if (ZC) z += (uint16_t)e == 0;                                                                        \
            }                                                                                                         \
        }
        if (j->zeros_skipped) { DCF__RANS_FAST(0) } else { DCF__RANS_FAST(1) } /* the value stream's 0s: not needed */
#undef DCF__RANS_FAST
        for (; t < S && !bad; t++) {
            unsigned live = t < last ? (unsigned)N : (unsigned)N - 1;
            uint16_t *o = o16 + t;
            for (l = 0; l < live; l++) {
                uint32_t xv = x[l], sym;
                DCF__RANS_STEP(0, xv, sym);
                x[l] = xv;
                o[l * S] = (uint16_t)sym;
                z += sym == 0;
            }
        }
        j->zeros = z;
        j->zeros_known = !j->zeros_skipped;
    } else {
        for (t = 0; t < S && !bad; t++) {
            unsigned live = t < last ? (unsigned)N : (unsigned)N - 1;
            for (l = 0; l < live; l++) {
                uint32_t xv = x[l], sym;
                unsigned ctx = lctx[l];
                uint64_t i = l * S + t;
                if (!r->used[ctx])
                    return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, r->at_states, "symbol %llu (lane %u) has context %u, whose table is not used", (unsigned long long)i, l, ctx);
                DCF__RANS_STEP(ctx, xv, sym);
                if (bad) break;
                x[l] = xv;
                if (j->wide) o32[i] = sym; else o16[i] = (uint16_t)sym;
                if (r->model == DCF__M_PREV_GAP) lctx[l] = sym == 0 ? 1u : 1u + (sym >= 8 ? 4u : dcf__bit_length(sym));
                else if (r->model == DCF__M_ROW_CLASS && --lrem[l] == 0) {
                    uint64_t row = lrow[l] + 1;
                    while (row < r->rc_rows && r->rc_counts[row] == 0) row++;
                    if (row < r->rc_rows) { lrow[l] = row; lrem[l] = r->rc_counts[row]; lctx[l] = dcf__rans_class(r, r->rc_counts[row]); }
                }
            }
        }
    }
    if (bad) return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, r->at_words + 2 * nwords, "the %llu renormalisation words are exhausted before the last symbol", (unsigned long long)nwords);
    if (p != nwords) return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, r->at_words + 2 * p, "%llu of %llu renormalisation words left after the last symbol", (unsigned long long)(nwords - p), (unsigned long long)nwords);
    for (l = 0; l < N; l++)
        if (x[l] != DCF_RANS_L) return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, r->at_states + 4 * l, "lane %u ends in state %u, not L = 2^16: the stream is corrupt", l, (unsigned)x[l]);
    return DCF_OK;
}

/* The up to three symbols of a look-up entry into o[0..2]: one 8-byte store on little-endian hosts (o[3] gets the
 * entry's counts and is overwritten by the next step). Four steps per window advance at most 12 symbols and the last
 * one writes 4 slots, so the fast loops run while i + 13 <= n (DCF__HROOM). */
#define DCF__HROOM 13
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define DCF__PUT3(o, e) do { uint64_t s_ = (e); memcpy((o), &s_, 8); } while (0)
#else
#define DCF__PUT3(o, e) do { (o)[0] = (uint16_t)(e); (o)[1] = (uint16_t)((e) >> 16); (o)[2] = (uint16_t)((e) >> 32); } while (0)
#endif

/* One multi-symbol look-up step of a narrow HUFFMAN stream: up to 3 symbols per 11-bit window; ZC: count the 0s in
 * z (a gap stream's fillers). A code longer than the table goes through dcf__huff_slow (the window then holds >= 24
 * valid bits), and the loop reloads its windows (goto SLOW): the other stream's state is consistent at every step. */
#define DCF__HSTEP(h, lut, w, e, o, i, pos, z, ZC, SLOW)                                                              \
    do {                                                                                                              \
        if (!((e) >> 48 & 3)) {                                                                                       \
            unsigned b_;                                                                                              \
            uint32_t s1_ = dcf__huff_slow((h), (w), &b_);                                                             \
            (o)[(i)++] = (uint16_t)s1_;                                                                               \
            if (ZC) (z) += s1_ == 0;                                                                                  \
            (pos) += b_;                                                                                              \
            goto SLOW;                                                                                                \
        } else {                                                                                                      \
            unsigned b_ = (unsigned)((e) >> 56);                                                                      \
            DCF__PUT3((o) + (i), (e));                                                                                \
            (i) += (e) >> 48 & 3;                                                                                     \
            if (ZC) (z) += (e) >> 50 & 3;                                                                             \
            (pos) += b_;                                                                                              \
            (w) <<= b_;                                                                                               \
            (e) = (lut)[(w) >> (64 - DCF_LUT_BITS)];                                                                  \
        }                                                                                                             \
    } while (0)

/* Fast part of a narrow HUFFMAN stream from (*pi, *ppos): 4 look-ups per 64-bit load (<= 4 x 11 of the >= 57 loaded
 * bits, or <= 3 x 11 + 24); up to 4 slots written per look-up, so it stops DCF__HROOM symbols before n. */
static void dcf__huff_fast(const dcf__huff *h, const uint8_t *d, uint64_t nbytes, uint16_t *o, uint64_t n,
                           uint64_t *pi, uint64_t *ppos, uint64_t *pz) {
    const uint64_t *lut = h->lut;
    uint64_t i = *pi, pos = *ppos, z = *pz;
    while (i + DCF__HROOM <= n && (pos >> 3) + 8 <= nbytes) {
        uint64_t w = DCF__BE64(d + (pos >> 3)) << (pos & 7);
        uint64_t e = lut[w >> (64 - DCF_LUT_BITS)];
        DCF__HSTEP(h, lut, w, e, o, i, pos, z, 1, next);
        DCF__HSTEP(h, lut, w, e, o, i, pos, z, 1, next);
        DCF__HSTEP(h, lut, w, e, o, i, pos, z, 1, next);
        DCF__HSTEP(h, lut, w, e, o, i, pos, z, 1, next);
    next:;
    }
    *pi = i;
    *ppos = pos;
    *pz = z;
}

/* Two narrow HUFFMAN streams at once, a gap stream (its 0s counted) and the value stream: their look-up chains are
 * independent, so the CPU overlaps them. */
static void dcf__huff_fast2(const dcf__huff *ha, const uint8_t *da, uint64_t nba, uint16_t *oa, uint64_t na,
                            uint64_t *pia, uint64_t *pposa, uint64_t *pza, const dcf__huff *hb, const uint8_t *db,
                            uint64_t nbb, uint16_t *ob, uint64_t nb, uint64_t *pib, uint64_t *pposb) {
    const uint64_t *luta = ha->lut, *lutb = hb->lut;
    uint64_t ia = *pia, posa = *pposa, ib = *pib, posb = *pposb, za = *pza, zb = 0;
    while (ia + DCF__HROOM <= na && (posa >> 3) + 8 <= nba && ib + DCF__HROOM <= nb && (posb >> 3) + 8 <= nbb) {
        uint64_t wa = DCF__BE64(da + (posa >> 3)) << (posa & 7), wb = DCF__BE64(db + (posb >> 3)) << (posb & 7);
        uint64_t ea = luta[wa >> (64 - DCF_LUT_BITS)], eb = lutb[wb >> (64 - DCF_LUT_BITS)];
        DCF__HSTEP(ha, luta, wa, ea, oa, ia, posa, za, 1, next);
        DCF__HSTEP(hb, lutb, wb, eb, ob, ib, posb, zb, 0, next);
        DCF__HSTEP(ha, luta, wa, ea, oa, ia, posa, za, 1, next);
        DCF__HSTEP(hb, lutb, wb, eb, ob, ib, posb, zb, 0, next);
        DCF__HSTEP(ha, luta, wa, ea, oa, ia, posa, za, 1, next);
        DCF__HSTEP(hb, lutb, wb, eb, ob, ib, posb, zb, 0, next);
        DCF__HSTEP(ha, luta, wa, ea, oa, ia, posa, za, 1, next);
        DCF__HSTEP(hb, lutb, wb, eb, ob, ib, posb, zb, 0, next);
    next:;
    }
    (void)zb;
    *pia = ia; *pposa = posa; *pib = ib; *pposb = posb; *pza = za;
}

/* Output array of a job: the caller's `dst` (room for n) or a new one. */
static dcf_status dcf__job_out(const dcf_file *f, dcf__cur *c, dcf__job *j, void *dst, void **out) {
    *out = dst ? dst : (j->n ? dcf__alloc_n(f, j->n, j->wide ? 4 : 2) : NULL);
    if (j->n && !*out) return DCF__FAIL(c, DCF_E_LIMIT, j->field, j->at, "cannot allocate %llu symbols", (unsigned long long)j->n);
    return DCF_OK;
}

/* Decode a job whose output is `out`, resuming a HUFFMAN stream at (i, pos); checks everything §6 asks of the data. */
static dcf_status dcf__job_finish(dcf__cur *c, dcf__job *j, void *out, uint64_t i, uint64_t pos) {
    uint16_t *o16 = (uint16_t *)out;
    uint32_t *o32 = (uint32_t *)out;
    uint64_t n = j->n;
    if (j->coding == 3) return dcf__rans_decode(c, j, out);
    if (j->coding == 2) {
        if (j->wide) for (i = 0; i < n; i++) o32[i] = (uint32_t)j->sym;
        else for (i = 0; i < n; i++) o16[i] = (uint16_t)j->sym;
        return DCF_OK;
    }
    if (j->coding == 0) {
        uint64_t bad = 0, alphabet = j->alphabet, nbytes = j->nbytes;
        unsigned width = j->width;
        const uint8_t *d = j->d;
#define DCF__FIXED_LOOP(O, T)                                                                                         \
        for (i = 0, pos = 0; i < n && (pos >> 3) + 8 <= nbytes; i++, pos += width) {                                 \
            uint64_t v_ = DCF__BE64(d + (pos >> 3)) << (pos & 7) >> (64 - width);                                    \
            bad |= v_ >= alphabet;                                                                                    \
            O[i] = (T)v_;                                                                                             \
        }                                                                                                             \
        for (; i < n; i++, pos += width) {                                                                            \
            uint64_t v_ = dcf__peek_safe(d, nbytes, pos) >> (64 - width);                                            \
            bad |= v_ >= alphabet;                                                                                    \
            O[i] = (T)v_;                                                                                             \
        }
        if (j->wide) { DCF__FIXED_LOOP(o32, uint32_t) } else { DCF__FIXED_LOOP(o16, uint16_t) }
#undef DCF__FIXED_LOOP
        if (bad) /* the first offending symbol, for the message */
            for (i = 0, pos = 0; i < n; i++, pos += width) {
                uint64_t v = dcf__peek_safe(d, nbytes, pos) >> (64 - width);
                if (v >= alphabet)
                    return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, j->at + pos / 8, "symbol %llu is %llu >= alphabet %llu", (unsigned long long)i, (unsigned long long)v, (unsigned long long)alphabet);
            }
        return DCF_OK;
    }
    { /* HUFFMAN */
        const dcf__huff *h = j->h;
        const uint8_t *d = j->d;
        uint64_t nbytes = j->nbytes;
        uint64_t z = j->zeros;
        if (!j->wide) dcf__huff_fast(h, d, nbytes, o16, n, &i, &pos, &z);
        else
            while (i < n && (pos >> 3) + 8 <= nbytes) {
                uint64_t w = DCF__BE64(d + (pos >> 3)) << (pos & 7);
                uint64_t e = h->lut[w >> (64 - DCF_LUT_BITS)];
                unsigned b;
                if (e >> 48 & 3) { o32[i++] = (uint32_t)e; b = (unsigned)(e >> 56); }
                else o32[i++] = dcf__huff_slow(h, w, &b);
                pos += b;
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
            if (j->wide) o32[i] = sym; else o16[i] = (uint16_t)sym;
            z += sym == 0;
            pos += b;
        }
        j->zeros = z;
        j->zeros_known = !j->wide && !j->zeros_skipped;
        if (i < n || pos > nbytes * 8)
            return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, j->at, "codeword data ends before %llu codewords", (unsigned long long)n);
        if (!dcf__tail_ok(d, nbytes, pos))
            return DCF__FAIL(c, DCF_E_BITSTREAM, j->field, j->at + pos / 8, "after %llu codewords: extra bytes or non-zero padding bits", (unsigned long long)n);
        return DCF_OK;
    }
}

/* Decode job a, or jobs a and b interleaved when both are narrow HUFFMAN streams. Outputs are freed on failure
 * unless they were the caller's. */
static dcf_status dcf__job_decode(const dcf_file *f, dcf__cur *c, dcf__job *a, void *dst_a, void **out_a,
                                  dcf__job *b, void *dst_b, void **out_b) {
    dcf_status s;
    uint64_t ia = 0, posa = 0, ib = 0, posb = 0;
    *out_a = NULL;
    if (b) *out_b = NULL;
    if ((s = dcf__job_out(f, c, a, dst_a, out_a))) return s;
    if (b && (s = dcf__job_out(f, c, b, dst_b, out_b))) goto fail;
    if (b && a->coding == 1 && b->coding == 1 && !a->wide && !b->wide)
        dcf__huff_fast2(a->h, a->d, a->nbytes, (uint16_t *)*out_a, a->n, &ia, &posa, &a->zeros,
                        b->h, b->d, b->nbytes, (uint16_t *)*out_b, b->n, &ib, &posb);
    if (b) b->zeros_skipped = 1;
    if ((s = dcf__job_finish(c, a, *out_a, ia, posa))) goto fail;
    if (b && (s = dcf__job_finish(c, b, *out_b, ib, posb))) goto fail;
    return DCF_OK;
fail:
    if (!dst_a) dcf__release(f, *out_a);
    if (b && !dst_b) dcf__release(f, *out_b);
    *out_a = NULL;
    if (b) *out_b = NULL;
    return s;
}

/* dcf__job_decode of jobs a and b with b decoded on a second thread (its own cursor and error): same outputs,
 * status and message (a's failure first, as dcf__job_decode reports it). */
typedef struct {
    dcf__cur c;
    dcf_error err;
    dcf__job *j;
    void *out;
    dcf_status s;
} dcf__par_job;

static void dcf__par_run(void *arg) {
    dcf__par_job *pj = (dcf__par_job *)arg;
    DCF_TRACE("B: stream begin");
    pj->s = dcf__job_finish(&pj->c, pj->j, pj->out, 0, 0);
    DCF_TRACE("B: stream end");
}

static dcf_status dcf__job_decode2(const dcf_file *f, dcf__cur *c, dcf__job *a, void **out_a, dcf__job *b,
                                   void *dst_b, void **out_b, const dcf_threads *th) {
    dcf__par_job pj;
    dcf_status s;
    int started;
    *out_a = *out_b = NULL;
    if ((s = dcf__job_out(f, c, a, NULL, out_a))) return s;
    if ((s = dcf__job_out(f, c, b, dst_b, out_b))) goto fail;
    memset(&pj, 0, sizeof pj);
    pj.c = *c;
    pj.c.err = &pj.err;
    pj.j = b;
    pj.out = *out_b;
    b->zeros_skipped = 1; /* as dcf__job_decode: the value stream's zeros are not needed */
    started = th->start(th->self, dcf__par_run, &pj);
    DCF_TRACE("A: stream begin");
    s = dcf__job_finish(c, a, *out_a, 0, 0);
    DCF_TRACE("A: stream end");
    if (started) th->join(th->self);
    else if (!s) dcf__par_run(&pj);
    if (!s && pj.s) {
        s = pj.s;
        *c->err = pj.err;
    }
    if (!s) return DCF_OK;
fail:
    dcf__release(f, *out_a);
    if (!dst_b) dcf__release(f, *out_b);
    *out_a = *out_b = NULL;
    return s;
}

/* A whole stream in one step. */
static dcf_status dcf__stream(const dcf_file *f, dcf__cur *c, uint64_t n, uint64_t alphabet, const char *what,
                              int wide, void *dst, void **out_syms) {
    dcf__job j;
    dcf_status s = dcf__job_open(f, c, n, alphabet, what, wide, DCF__S_PLAIN, 1, &j);
    if (!s) s = dcf__job_decode(f, c, &j, dst, out_syms, NULL, NULL, NULL);
    dcf__job_free(f, &j);
    return s;
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
    uint64_t at_codebook;
    void *mem;                /* one block of 9 K bytes holding the three arrays below */
    float *cb;                /* K codebook values as stored */
    union { float *f32; uint16_t *f16; } lut; /* codebook in the output dtype (float32 or float16 bits) */
    uint8_t *nonzero;         /* per code: non-zero in the tensor's dtype */
} dcf__quant;

static dcf_status dcf__quant_head(const dcf_file *f, dcf__cur *c, const dcf_tensor_info *t, dcf__quant *qh) {
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
    qh->mem = dcf__alloc_n(f, qh->K, 9);
    if (!qh->mem) return DCF__FAIL(c, DCF_E_LIMIT, "codebook", at, "allocation failed");
    qh->cb = (float *)qh->mem;
    qh->lut.f32 = (float *)((uint8_t *)qh->mem + 4 * qh->K);
    qh->nonzero = (uint8_t *)qh->mem + 8 * qh->K;
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

/* The second thread's page population of a dense float32 output while the first decodes the last two streams
 * (dcf__sparse_read with pf_out): the rows with at least one entry per 1024 columns (4 KiB of float32 per entry:
 * for the walk of a valid payload with these row counts, at least one entry per page on average), in runs of
 * consecutive such rows. So a payload that is then rejected made at most 4 KiB per entry its row counts claim
 * present (and its entries are <= 8 x its value stream's bytes: dcf__job_open checked that before this starts), never
 * more than its output, and the rows that the walk touches sparsely keep their untouched pages. */
typedef struct {
    const dcf_threads *th;
    const uint32_t *counts;
    uint64_t rows, cols;
    float *out;
} dcf__populate_job;

static void dcf__populate_rows(void *arg) {
    const dcf__populate_job *p = (const dcf__populate_job *)arg;
    uint64_t r = 0, need = p->cols / 1024 + (p->cols % 1024 != 0);
    if (need == 0) need = 1; /* a row without entries is never populated */
    DCF_TRACE("B: populate begin");
    while (r < p->rows) {
        uint64_t r0;
        while (r < p->rows && p->counts[r] < need) r++;
        r0 = r;
        while (r < p->rows && p->counts[r] >= need) r++;
        if (r > r0) p->th->populate(p->th->self, p->out + r0 * p->cols, (size_t)((r - r0) * p->cols * 4));
    }
    DCF_TRACE("B: populate end");
}

static dcf_status dcf__sparse_read(const dcf_file *f, dcf__cur *c, const dcf_tensor_info *t, dcf__quant *qh,
                                   dcf__sparse *sp, dcf_csr *csr, const dcf_threads *th, float *pf_out) {
    uint64_t r, at, rows_c[16] = {0}, F;
    unsigned k, nc;
    dcf_status s;
    void *syms, *vsyms;
    memset(sp, 0, sizeof *sp);
    if ((s = dcf__quant_head(f, c, t, qh))) return s;
    if (t->cols >= ((uint64_t)1 << 32)) return DCF__FAIL(c, DCF_E_LIMIT, "row_counts", c->pos, "cols + 1 = %llu + 1 > 2^32", (unsigned long long)t->cols);
    DCF_TRACE("A: streams begin");
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
        uint64_t fillers, cap, i, zeros = 0, n;
        char what[24];
        dcf__job gj, vj;
        const uint16_t *g;
        int last = k + 1 == nc;
        at = c->pos;
        if ((s = dcf__varint(c, "n_fillers", &fillers))) return s;
        cap = rows_c[k] * t->cols; /* <= numel */
        if (fillers > (cap - sp->nnz_c[k]) / F)
            return DCF__FAIL(c, DCF_E_SPARSE_INDEX, "n_fillers", at, "class %u: %llu fillers cannot fit in its rows", k, (unsigned long long)fillers);
        n = sp->gap_n[k] = sp->nnz_c[k] + fillers;
        sp->gap_at[k] = c->pos;
        snprintf(what, sizeof what, "gaps[%u]", k);
        s = dcf__job_open(f, c, n, (uint64_t)1 << qh->b, what, 0, DCF__S_GAPS, nc, &gj);
        memset(&vj, 0, sizeof vj);
        if (!s && last) { /* the last gap stream and the value stream are decoded together */
            if (csr) { /* CSR: the value symbols are the codes array itself */
                csr->codes = (uint16_t *)dcf__alloc_n(f, sp->nnz, 2);
                sp->values_borrowed = 1;
                if (!csr->codes) s = DCF__FAIL(c, DCF_E_LIMIT, "values", c->pos, "cannot allocate %llu codes", (unsigned long long)sp->nnz);
            }
            if (!s) s = dcf__job_open(f, c, sp->nnz, qh->K ? qh->K : 1, "values", 0, DCF__S_VALUES, nc, &vj);
            if (!s && vj.r) { /* ROW_CLASS contexts come from the row counts */
                vj.r->rc_counts = sp->counts; vj.r->rc_class_min = sp->class_min;
                vj.r->rc_rows = t->rows; vj.r->rc_classes = nc;
            }
            /* two narrow HUFFMAN streams: one thread decoding both interleaved (dcf__huff_fast2) measured as fast
             * as two threads each decoding one, at less CPU time, so the second thread (if any) populates the
             * output's pages meanwhile (pf_out); otherwise one stream per thread */
            if (!s && th && !(gj.coding == 1 && vj.coding == 1 && !gj.wide && !vj.wide))
                s = dcf__job_decode2(f, c, &gj, &syms, &vj, csr ? csr->codes : NULL, &vsyms, th);
            else if (!s) {
                dcf__populate_job pj;
                int started = 0;
                if (th && th->populate && pf_out) {
                    pj.th = th; pj.counts = sp->counts; pj.rows = t->rows; pj.cols = t->cols; pj.out = pf_out;
                    started = th->start(th->self, dcf__populate_rows, &pj);
                }
                DCF_TRACE("A: fast2 begin");
                s = dcf__job_decode(f, c, &gj, NULL, &syms, &vj, csr ? csr->codes : NULL, &vsyms);
                DCF_TRACE("A: fast2 end");
                if (started) th->join(th->self);
            }
            if (!s) { sp->gaps[k] = (uint16_t *)syms; sp->values = (uint16_t *)vsyms; }
        } else if (!s) {
            s = dcf__job_decode(f, c, &gj, NULL, &syms, NULL, NULL, NULL);
            if (!s) sp->gaps[k] = (uint16_t *)syms;
        }
        if (!s && gj.zeros_known) zeros = gj.zeros; /* counted while decoding */
        else if (!s) for (i = 0; i < n; i++) zeros += sp->gaps[k][i] == 0;
        dcf__job_free(f, &gj);
        dcf__job_free(f, &vj);
        if (s) return s;
        /* the stream holds exactly nnz_c entries and ends with one (a filler precedes an entry of its row) */
        g = sp->gaps[k];
        if (zeros != fillers)
            return DCF__FAIL(c, DCF_E_SPARSE_INDEX, what, sp->gap_at[k], "class %u: %llu entries in its gap stream, its rows own %llu", k, (unsigned long long)(n - zeros), (unsigned long long)sp->nnz_c[k]);
        if (n && g[n - 1] == 0)
            return DCF__FAIL(c, DCF_E_SPARSE_INDEX, what, sp->gap_at[k], "class %u: its gap stream ends with a filler", k);
    }
    DCF_TRACE("A: streams checked");
    return dcf__end(c);
}

/* Walk the gaps row by row; for each entry call SINK(row, col, j) with j the entry number. The class streams hold
 * exactly nnz_c entries and end with one (checked in dcf__sparse_read), so every row finds its entries in its class
 * stream; columns rise strictly within a row, so checking a row's last column against cols checks them all (the
 * sink may already have stored a column >= cols of a row that is then rejected: sinks write inside their arrays
 * only, which the dense sink guarantees by its own check). DCF__WALK_RANGE walks rows [R0, R1) from the state the
 * whole walk has at row R0: entry number J0 and symbol POS[k] of each class stream k (dcf__walk_state). */
#define DCF__WALK_RANGE(SINK, R0, R1, J0, POS)                                                                      \
    do {                                                                                                            \
        uint64_t r_, j_ = (J0), F_ = ((uint64_t)1 << qh->b) - 1, cols_ = t->cols, r1_ = (R1);                       \
        const uint16_t *p_[16];                                                                                     \
        unsigned k_;                                                                                                \
        for (k_ = 0; k_ < sp->classes; k_++) p_[k_] = sp->gaps[k_] ? sp->gaps[k_] + (POS)[k_] : NULL; /* NULL: empty */ \
        for (r_ = (R0); r_ < r1_; r_++) {                                                                           \
            uint64_t jend_ = j_ + sp->counts[r_], cur_ = 0; /* cur_: the column after the last entry */             \
            unsigned cl_;                                                                                           \
            const uint16_t *p;                                                                                      \
            if (j_ == jend_) continue;                                                                              \
            cl_ = sp->classes == 1 ? 0 : dcf__class_of(sp, sp->counts[r_]);                                         \
            p = p_[cl_];                                                                                            \
            while (j_ < jend_) {                                                                                    \
                uint64_t g_ = *p++;                                                                                 \
                if (g_) { cur_ += g_; SINK(r_, cur_ - 1, j_); j_++; }                                               \
                else cur_ += F_;                                                                                    \
            }                                                                                                       \
            if (cur_ > cols_) { s = DCF__FAIL(c, DCF_E_SPARSE_INDEX, "gaps", sp->gap_at[cl_], "row %llu: column %llu >= %llu", (unsigned long long)r_, (unsigned long long)(cur_ - 1), (unsigned long long)cols_); goto walk_fail; } \
            p_[cl_] = p;                                                                                            \
        }                                                                                                           \
    } while (0)
static const uint64_t dcf__walk_origin[16] = {0};
#define DCF__WALK(SINK) DCF__WALK_RANGE(SINK, 0, t->rows, 0, dcf__walk_origin)

/* The walk's state at row `mid` (for a second thread that walks rows [mid, rows)): the entry number and, per class
 * stream, the symbol after the last entry of the rows before `mid` (a stream's entries are its non-zero symbols;
 * dcf__sparse_read checked that each class stream holds exactly its rows' entries, so every scan ends inside it). */
static void dcf__walk_state(const dcf_tensor_info *t, const dcf__sparse *sp, uint64_t mid, uint64_t *j, uint64_t pos[16]) {
    uint64_t before[16] = {0}, r, total = 0;
    unsigned k;
    for (r = 0; r < mid && r < t->rows; r++) {
        uint32_t n = sp->counts[r];
        if (n) before[sp->classes == 1 ? 0 : dcf__class_of(sp, n)] += n;
        total += n;
    }
    *j = total;
    for (k = 0; k < 16; k++) {
        const uint16_t *g = sp->gaps[k];
        uint64_t i = 0, seen = 0;
        pos[k] = 0;
        if (k >= sp->classes || !before[k]) continue;
        while (seen < before[k]) { /* blocks of 64 symbols while the target lies beyond them */
            if (before[k] - seen > 64 && i + 64 <= sp->gap_n[k]) {
                unsigned q, nz = 0;
                for (q = 0; q < 64; q++) nz += g[i + q] != 0;
                seen += nz;
                i += 64;
            } else {
                seen += g[i++] != 0;
            }
        }
        pos[k] = i;
    }
}

/* Rows [r0, r1) of a decoded SPARSE float32 tensor into `o` (zero already), from the walk state (j0, pos) at r0; the
 * codebook look-up table qh->lut.f32 is filled (dcf__cb_convert). Threads may walk disjoint row ranges at once,
 * each with its own cursor `c` (its own error). */
static dcf_status dcf__walk_f32(dcf__cur *c, const dcf_tensor_info *t, const dcf__quant *qh, const dcf__sparse *sp,
                                uint64_t r0, uint64_t r1, uint64_t j0, const uint64_t *pos, float *o) {
    const float *lut = qh->lut.f32;
    const uint16_t *v = sp->values;
    dcf_status s = DCF_OK;
#define DCF__SINK_F32(r, col, j) if ((col) < cols_) o[(r) * cols_ + (col)] = lut[v[j]]
    DCF__WALK_RANGE(DCF__SINK_F32, r0, r1, j0, pos);
walk_fail:
    return s;
}

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

static dcf_status dcf__decode_dense(const dcf_file *f, size_t index, void *out_v, size_t out_size, int out_is_zero,
                                    const dcf_threads *th, dcf_error *err);
dcf_status dcf_decode_dense(const dcf_file *f, size_t index, void *out_v, size_t out_size, dcf_error *err) {
    return dcf__decode_dense(f, index, out_v, out_size, 0, NULL, err);
}
dcf_status dcf_decode_dense_threads(const dcf_file *f, size_t index, void *out_v, size_t out_size,
                                    const dcf_threads *threads, dcf_error *err) {
    return dcf__decode_dense(f, index, out_v, out_size, 0, threads, err);
}

/* The second thread's half of the row walk (dcf__decode_dense with threads). */
typedef struct {
    dcf__cur c;
    dcf_error err;
    const dcf_tensor_info *t;
    const dcf__quant *qh;
    const dcf__sparse *sp;
    uint64_t mid;
    float *out;
    dcf_status s;
} dcf__upper;

static void dcf__walk_upper(void *arg) {
    dcf__upper *u = (dcf__upper *)arg;
    uint64_t j, pos[16];
    DCF_TRACE("B: walk begin");
    dcf__walk_state(u->t, u->sp, u->mid, &j, pos);
    u->s = dcf__walk_f32(&u->c, u->t, u->qh, u->sp, u->mid, u->t->rows, j, pos, u->out);
    DCF_TRACE("B: walk end");
}

/* Rows [0, mid) here and [mid, rows) on the second thread; the first half's failure is reported first (the row
 * order of the one-thread walk), so status and message are the one-thread walk's. */
static dcf_status dcf__walk_f32_threads(dcf__cur *c, const dcf_tensor_info *t, const dcf__quant *qh,
                                        const dcf__sparse *sp, float *out, const dcf_threads *th) {
    dcf__upper u;
    dcf_status s;
    int started;
    memset(&u, 0, sizeof u);
    u.c = *c;
    u.c.err = &u.err;
    u.t = t; u.qh = qh; u.sp = sp; u.mid = t->rows / 2; u.out = out;
    started = th->start(th->self, dcf__walk_upper, &u);
    DCF_TRACE("A: walk begin");
    s = dcf__walk_f32(c, t, qh, sp, 0, u.mid, 0, dcf__walk_origin, out);
    DCF_TRACE("A: walk end");
    if (started) th->join(th->self);
    else if (!s) dcf__walk_upper(&u); /* nothing started: the upper half after the lower one */
    DCF_TRACE("A: walk joined");
    if (!s && u.s) {
        s = u.s;
        *c->err = u.err;
    }
    return s;
}

static dcf_status dcf__decode_dense(const dcf_file *f, size_t index, void *out_v, size_t out_size, int out_is_zero,
                                    const dcf_threads *th, dcf_error *err) {
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
    memset(qh, 0, sizeof *qh);
    if (t->encoding == DCF_DENSE) {
        uint16_t *vals = NULL;
        void *syms;
        uint64_t i, n = t->numel;
        if ((s = dcf__quant_head(f, c, t, qh))) goto out;
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
        float *pf = out_is_zero && t->dtype == DCF_FLOAT32 ? (float *)out : NULL; /* fresh pages: populate them */
        if ((s = dcf__sparse_read(f, c, t, qh, sp, NULL, th, pf))) { dcf__sparse_free(f, sp); goto out; }
        if (t->nbytes && !out_is_zero) memset(out, 0, (size_t)t->nbytes);
        if (t->dtype == DCF_FLOAT32) {
            dcf__cb_convert(qh, t->dtype, qh->lut.f32);
            if (th) s = dcf__walk_f32_threads(c, t, qh, sp, (float *)out, th);
            else s = dcf__walk_f32(c, t, qh, sp, 0, t->rows, 0, dcf__walk_origin, (float *)out);
            if (s) goto walk_fail;
        } else if (t->dtype == DCF_FLOAT64) {
            double *o = (double *)out;
            const uint16_t *v = sp->values;
#define DCF__SINK_F64(r, col, j) if ((col) < cols_) o[(r) * cols_ + (col)] = (double)qh->cb[v[j]]
            DCF__WALK(DCF__SINK_F64);
        } else {
            uint16_t *o = (uint16_t *)out;
            const uint16_t *lut = qh->lut.f16;
            const uint16_t *v = sp->values;
            dcf__cb_convert(qh, t->dtype, qh->lut.f16);
#define DCF__SINK_F16(r, col, j) if ((col) < cols_) o[(r) * cols_ + (col)] = lut[v[j]]
            DCF__WALK(DCF__SINK_F16);
        }
        s = DCF_OK;
    walk_fail:
        dcf__sparse_free(f, sp);
    }
out:
    if (qh) dcf__release(f, qh->mem);
    dcf__release(f, qh);
    return s;
}

void dcf_csr_free(const dcf_file *f, dcf_csr *csr) {
    if (!csr) return;
    if (!f) { /* arrays of dcf_decode_payload_csr (malloc) */
        DCF_FREE(csr->indptr); DCF_FREE(csr->indices); DCF_FREE(csr->codes); DCF_FREE(csr->codebook);
        memset(csr, 0, sizeof *csr);
        return;
    }
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
    memset(qh, 0, sizeof *qh);
    if (t->encoding == DCF_DENSE) {
        uint16_t *vals = NULL;
        void *syms;
        uint64_t n = t->numel, nnz = 0, j = 0;
        uint8_t *nonzero;
        if ((s = dcf__quant_head(f, c, t, qh))) goto out;
        nonzero = qh->nonzero;
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
        if ((s = dcf__sparse_read(f, c, t, qh, sp, csr, NULL, NULL))) { dcf__sparse_free(f, sp); goto out; }
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
    if (qh) dcf__release(f, qh->mem);
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

/* ---- payload-level entry points -------------------------------------------------------------------------------- */

/* A one-tensor dcf_file over a bare payload: the table entry's fields checked as dcf__table checks them (shape
 * product and dense size against the limits, the matrix view of §4.3), malloc as the allocator. */
static dcf_status dcf__payload_file(dcf_file *f, dcf_tensor_info *t, const void *payload, size_t len, const char *name,
                                    dcf_dtype dtype, dcf_encoding encoding, uint32_t ndim, const uint64_t *shape,
                                    uint32_t file_flags, const dcf_limits *limits, dcf_error *err) {
    uint64_t numel = 1;
    uint32_t d;
    dcf__ok(err);
    memset(f, 0, sizeof *f);
    memset(t, 0, sizeof *t);
    f->alloc.alloc = dcf__malloc;
    f->alloc.free = dcf__free;
    if (limits) f->limits = *limits; else dcf_default_limits(&f->limits);
    t->name = name ? name : "";
    t->name_len = strlen(t->name);
    if ((!payload && len) || (ndim && !shape) || ndim > 8 || !dcf_dtype_size(dtype) || (unsigned)encoding > 2 ||
        (encoding != DCF_RAW && (unsigned)dtype > 3))
        return dcf__fail(err, DCF_E_ARGUMENT, t->name, "", 0, 0, "invalid tensor description");
    for (d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        if (!dcf__mul(numel, shape[d], &numel) || numel > f->limits.max_tensor_elements)
            return dcf__fail(err, DCF_E_LIMIT, t->name, "shape", 0, 0, "more than %llu elements", (unsigned long long)f->limits.max_tensor_elements);
    }
    t->dtype = dtype;
    t->encoding = encoding;
    t->ndim = ndim;
    t->numel = numel;
    if (ndim >= 2) { t->rows = shape[0]; t->cols = shape[0] ? numel / shape[0] : 0; }
    else { t->rows = 1; t->cols = numel; }
    if (ndim >= 2 && shape[0] == 0) {
        uint64_t cols = 1;
        for (d = 1; d < ndim; d++)
            if (!dcf__mul(cols, shape[d], &cols)) return dcf__fail(err, DCF_E_LIMIT, t->name, "shape", 0, 0, "column count overflows");
        t->cols = cols;
    }
    if (!dcf__mul(numel, dcf_dtype_size(dtype), &t->nbytes) || t->nbytes > f->limits.max_tensor_bytes)
        return dcf__fail(err, DCF_E_LIMIT, t->name, "shape", 0, 0, "decoded bytes > per-tensor limit %llu", (unsigned long long)f->limits.max_tensor_bytes);
    t->payload_offset = 0;
    t->payload_len = len;
    f->data = (const uint8_t *)(payload ? payload : (const void *)dcf__signature);
    f->size = len;
    f->count = 1;
    f->tensors = t;
    f->flags = file_flags & 0xFFFFu;
    return DCF_OK;
}

dcf_status dcf_decode_payload_dense(const void *payload, size_t len, const char *name, dcf_dtype dtype,
                                    dcf_encoding encoding, uint32_t ndim, const uint64_t *shape, uint32_t file_flags,
                                    const dcf_limits *limits, void *out, size_t out_size, int out_is_zero,
                                    dcf_error *err) {
    return dcf_decode_payload_dense_threads(payload, len, name, dtype, encoding, ndim, shape, file_flags, limits, out,
                                            out_size, out_is_zero, NULL, err);
}

dcf_status dcf_decode_payload_dense_threads(const void *payload, size_t len, const char *name, dcf_dtype dtype,
                                            dcf_encoding encoding, uint32_t ndim, const uint64_t *shape,
                                            uint32_t file_flags, const dcf_limits *limits, void *out, size_t out_size,
                                            int out_is_zero, const dcf_threads *threads, dcf_error *err) {
    dcf_file f;
    dcf_tensor_info t;
    dcf_status s = dcf__payload_file(&f, &t, payload, len, name, dtype, encoding, ndim, shape, file_flags, limits, err);
    return s ? s : dcf__decode_dense(&f, 0, out, out_size, out_is_zero, threads, err);
}

dcf_status dcf_decode_payload_csr(const void *payload, size_t len, const char *name, dcf_dtype dtype,
                                  dcf_encoding encoding, uint32_t ndim, const uint64_t *shape, uint32_t file_flags,
                                  const dcf_limits *limits, dcf_csr *out, dcf_error *err) {
    dcf_file f;
    dcf_tensor_info t;
    dcf_status s;
    if (!out) return dcf__fail(err, DCF_E_ARGUMENT, NULL, "", 0, 0, "NULL csr");
    memset(out, 0, sizeof *out);
    s = dcf__payload_file(&f, &t, payload, len, name, dtype, encoding, ndim, shape, file_flags, limits, err);
    return s ? s : dcf_decode_csr(&f, 0, out, err);
}

#endif /* DCFORMAT_IMPLEMENTATION_DONE */
#endif /* DCFORMAT_IMPLEMENTATION */

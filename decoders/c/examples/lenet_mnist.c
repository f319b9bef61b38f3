/* LeNet-300-100 straight from the compressed file: the three fully connected layers run as sparse matrix-vector
 * products on CSR + codebook (Deep Compression's inference form), never building a dense weight matrix.
 *
 *   python decoders/c/examples/export_digits.py /tmp/digits.raw
 *   cc -std=c99 -O2 -o lenet_mnist decoders/c/examples/lenet_mnist.c
 *   ./lenet_mnist dcformat/data/lenet_300_100.dc /tmp/digits.raw
 *
 * The graph stored in the file is input -> ip1 (Linear) -> ReLU -> ip2 (Linear) -> ReLU -> ip3 (Linear) -> logits;
 * Linear computes y = x W^T + b with W of shape (out, in), so row r of W's CSR gives output r.
 */
#define DCFORMAT_IMPLEMENTATION
#include "../dcformat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    dcf_csr w;
    float *bias;
} layer;

static int load_layer(const dcf_file *f, const char *name, uint64_t in, uint64_t out, layer *l) {
    char wname[64], bname[64];
    long wi, bi;
    const dcf_tensor_info *bt;
    dcf_error err;
    snprintf(wname, sizeof wname, "%s.weight", name);
    snprintf(bname, sizeof bname, "%s.bias", name);
    wi = dcf_find(f, wname);
    bi = dcf_find(f, bname);
    if (wi < 0 || bi < 0) { fprintf(stderr, "%s: missing %s or %s\n", name, wname, bname); return 0; }
    if (dcf_decode_csr(f, (size_t)wi, &l->w, &err) != DCF_OK) { fprintf(stderr, "%s\n", err.message); return 0; }
    bt = dcf_tensor(f, (size_t)bi);
    if (l->w.rows != out || l->w.cols != in || l->w.dtype != DCF_FLOAT32 || bt->dtype != DCF_FLOAT32 || bt->numel != out) {
        fprintf(stderr, "%s: unexpected shapes or dtypes\n", name);
        return 0;
    }
    l->bias = (float *)malloc((size_t)bt->nbytes);
    if (!l->bias || dcf_decode_dense(f, (size_t)bi, l->bias, (size_t)bt->nbytes, &err) != DCF_OK) {
        fprintf(stderr, "%s\n", l->bias ? err.message : "out of memory");
        return 0;
    }
    return 1;
}

/* y = W x + b, W in CSR with codebook values; optional ReLU. */
static void spmv(const layer *l, const float *x, float *y, int relu) {
    uint64_t r, j;
    for (r = 0; r < l->w.rows; r++) {
        float acc = 0.0f;
        for (j = l->w.indptr[r]; j < l->w.indptr[r + 1]; j++) acc += l->w.codebook[l->w.codes[j]] * x[l->w.indices[j]];
        acc += l->bias[r];
        y[r] = (relu && acc < 0.0f) ? 0.0f : acc;
    }
}

int main(int argc, char **argv) {
    dcf_file *f;
    dcf_error err;
    layer l1, l2, l3;
    FILE *fp;
    unsigned char head[20], *pixels, *labels;
    uint32_t n, npix, divisor, i, k, correct = 0;
    float x[784], h1[300], h2[100], out[10];
    if (argc != 3) { fprintf(stderr, "usage: %s lenet_300_100.dc digits.raw\n", argv[0]); return 2; }
    if (dcf_open_path(&f, argv[1], NULL, NULL, &err) != DCF_OK) { fprintf(stderr, "%s\n", err.message); return 1; }
    if (!load_layer(f, "ip1", 784, 300, &l1) || !load_layer(f, "ip2", 300, 100, &l2) || !load_layer(f, "ip3", 100, 10, &l3))
        return 1;
    fp = fopen(argv[2], "rb");
    if (!fp || fread(head, 1, 20, fp) != 20 || memcmp(head, "DIGITS01", 8) != 0) { fprintf(stderr, "%s: not a digits file\n", argv[2]); return 1; }
    n = (uint32_t)head[8] | (uint32_t)head[9] << 8 | (uint32_t)head[10] << 16 | (uint32_t)head[11] << 24;
    npix = (uint32_t)head[12] | (uint32_t)head[13] << 8 | (uint32_t)head[14] << 16 | (uint32_t)head[15] << 24;
    divisor = (uint32_t)head[16] | (uint32_t)head[17] << 8 | (uint32_t)head[18] << 16 | (uint32_t)head[19] << 24;
    if (npix != 784 || divisor == 0 || n > 1000000) { fprintf(stderr, "%s: bad header\n", argv[2]); return 1; }
    pixels = (unsigned char *)malloc((size_t)n * 784);
    labels = (unsigned char *)malloc(n ? n : 1);
    if (!pixels || !labels || fread(pixels, 784, n, fp) != n || fread(labels, 1, n, fp) != n) { fprintf(stderr, "%s: truncated\n", argv[2]); return 1; }
    fclose(fp);
    for (i = 0; i < n; i++) {
        uint32_t best = 0;
        for (k = 0; k < 784; k++) x[k] = (float)pixels[(size_t)i * 784 + k] / (float)divisor;
        spmv(&l1, x, h1, 1);
        spmv(&l2, h1, h2, 1);
        spmv(&l3, h2, out, 0);
        for (k = 1; k < 10; k++) if (out[k] > out[best]) best = k;
        correct += best == labels[i];
    }
    printf("accuracy on %u bundled MNIST test digits: %u/%u = %.1f%%\n", n, correct, n, n ? 100.0 * correct / n : 0.0);
    dcf_csr_free(f, &l1.w); dcf_csr_free(f, &l2.w); dcf_csr_free(f, &l3.w);
    free(l1.bias); free(l2.bias); free(l3.bias); free(pixels); free(labels);
    dcf_close(f);
    return 0;
}

/* MinHash signatures of a batch of documents from their word hashes: the same arithmetic as minhash.py's numpy
 * path, one pass, no temporaries. Built once per machine by native.py and called through ctypes (which releases
 * the GIL, so the sketching threads run in parallel).
 *
 * Document d owns words[offsets[d] .. offsets[d+1]). Its shingles are the windows of n consecutive words, hashed
 * sum_k words[i+k] * coef[k] mod 2^64; a document with fewer than n words has one shingle, whole[d]. The top 32
 * bits x of a shingle hash go through num_perm permutations (a[p] * x + b[p]) mod 2^32; a document's signature is
 * the low 16 bits of each permutation's minimum, written to out[p * docs + d].
 */
#include <stdint.h>
#include <stdlib.h>

#define LANES 32 /* permutations per block: their minima stay in vector registers across a document's shingles */

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

/* GCC/clang vector extensions: 8 lanes, one AVX2 register (two SSE2 ones); LANES / 8 accumulators per block */
typedef uint32_t v8 __attribute__((vector_size(32), aligned(4)));
#define ACC (LANES / 8)

static inline __attribute__((always_inline)) v8 vmin(v8 v, v8 m) {
    v8 less = (v8)(v < m);
    return (v & less) | (m & ~less);
}

static inline __attribute__((always_inline)) void block_min(const uint32_t *xs, int64_t count, const uint32_t *a,
                                                           const uint32_t *b, uint32_t *mins) {
    v8 pa[ACC], pb[ACC], m[ACC];
    for (int j = 0; j < ACC; j++) {
        __builtin_memcpy(&pa[j], a + 8 * j, sizeof(v8));
        __builtin_memcpy(&pb[j], b + 8 * j, sizeof(v8));
        m[j] = ~(pa[j] ^ pa[j]);
    }
    for (int64_t s = 0; s < count; s++) {
        uint32_t x = xs[s];
        for (int j = 0; j < ACC; j++) m[j] = vmin(pa[j] * x + pb[j], m[j]);
    }
    for (int j = 0; j < ACC; j++) __builtin_memcpy(mins + 8 * j, &m[j], sizeof(v8));
}

/* a and b are padded to a multiple of LANES permutations (the padding's minima are computed and not used) */
CLONES
static void doc_minhash(const uint32_t *xs, int64_t count, const uint32_t *a, const uint32_t *b, int padded,
                        uint32_t *mins) {
    for (int p = 0; p < padded; p += LANES) block_min(xs, count, a + p, b + p, mins + p);
}

/* Scratch space for a batch: shingle hashes of the longest document, and a, b, minima padded to whole blocks. */
typedef struct {
    uint32_t *xs, *pad, *pa, *pb, *mins;
    int padded;
} scratch;

static int scratch_init(scratch *w, const int64_t *offsets, int64_t docs, const uint32_t *a, const uint32_t *b,
                        int num_perm) {
    int64_t longest = 1;
    for (int64_t d = 0; d < docs; d++) {
        int64_t count = offsets[d + 1] - offsets[d];
        if (count > longest) longest = count;
    }
    w->padded = (num_perm + LANES - 1) / LANES * LANES;
    w->xs = malloc(sizeof(uint32_t) * (size_t)longest);
    w->pad = calloc((size_t)(3 * (w->padded > 0 ? w->padded : 1)), sizeof(uint32_t));
    if (!w->xs || !w->pad) {
        free(w->xs);
        free(w->pad);
        return -1;
    }
    w->pa = w->pad;
    w->pb = w->pad + w->padded;
    w->mins = w->pad + 2 * w->padded;
    for (int p = 0; p < num_perm; p++) {
        w->pa[p] = a[p];
        w->pb[p] = b[p];
    }
    return 0;
}

static void scratch_free(scratch *w) {
    free(w->xs);
    free(w->pad);
}

/* The 32-bit minima of document d into w->mins. */
static void doc_signature(scratch *w, const uint64_t *words, const int64_t *offsets, int64_t d, const uint64_t *whole,
                          const uint64_t *coef, int n) {
    const uint64_t *wd = words + offsets[d];
    int64_t count = offsets[d + 1] - offsets[d], shingles = count - n + 1;
    if (count < n) {
        w->xs[0] = (uint32_t)(whole[d] >> 32);
        shingles = 1;
    } else {
        for (int64_t i = 0; i < shingles; i++) {
            uint64_t h = 0;
            for (int k = 0; k < n; k++) h += wd[i + k] * coef[k];
            w->xs[i] = (uint32_t)(h >> 32);
        }
    }
    doc_minhash(w->xs, shingles, w->pa, w->pb, w->padded, w->mins);
}

/* Signatures, one row per permutation: out[p * docs + d]. Returns 0, or -1 when scratch space cannot be had. */
int minhash_docs(const uint64_t *words, const int64_t *offsets, int64_t docs, const uint64_t *whole,
                 const uint64_t *coef, int n, const uint32_t *a, const uint32_t *b, int num_perm, uint16_t *out) {
    scratch w;
    if (scratch_init(&w, offsets, docs, a, b, num_perm) != 0) return -1;
    for (int64_t d = 0; d < docs; d++) {
        doc_signature(&w, words, offsets, d, whole, coef, n);
        for (int p = 0; p < num_perm; p++) out[(int64_t)p * docs + d] = (uint16_t)w.mins[p];
    }
    scratch_free(&w);
    return 0;
}

/* What the spill writes: signatures one row per document (by_doc[d * num_perm + p]) and the LSH key of each
 * (band, document), keys[band * docs + d] = sum_r sig[band * rows + r] * band_coef[band * rows + r] mod 2^64
 * (lsh.band_keys). Returns 0, or -1 when scratch space cannot be had. */
int sketch_docs(const uint64_t *words, const int64_t *offsets, int64_t docs, const uint64_t *whole,
                const uint64_t *coef, int n, const uint32_t *a, const uint32_t *b, int num_perm,
                const uint64_t *band_coef, int bands, int rows, uint16_t *by_doc, uint64_t *keys) {
    scratch w;
    if (scratch_init(&w, offsets, docs, a, b, num_perm) != 0) return -1;
    for (int64_t d = 0; d < docs; d++) {
        doc_signature(&w, words, offsets, d, whole, coef, n);
        uint16_t *row = by_doc + d * (int64_t)num_perm;
        for (int p = 0; p < num_perm; p++) row[p] = (uint16_t)w.mins[p];
        for (int band = 0; band < bands; band++) {
            uint64_t key = 0;
            for (int r = 0; r < rows; r++) key += (uint64_t)row[band * rows + r] * band_coef[band * rows + r];
            keys[(int64_t)band * docs + d] = key;
        }
    }
    scratch_free(&w);
    return 0;
}

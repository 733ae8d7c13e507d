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

/* Returns 0, or -1 when a scratch buffer cannot be allocated. */
int minhash_docs(const uint64_t *words, const int64_t *offsets, int64_t docs, const uint64_t *whole,
                 const uint64_t *coef, int n, const uint32_t *a, const uint32_t *b, int num_perm, uint16_t *out) {
    int64_t longest = 1;
    for (int64_t d = 0; d < docs; d++) {
        int64_t count = offsets[d + 1] - offsets[d];
        if (count > longest) longest = count;
    }
    int padded = (num_perm + LANES - 1) / LANES * LANES;
    uint32_t *xs = malloc(sizeof(uint32_t) * (size_t)longest);
    uint32_t *pad = calloc((size_t)(3 * (padded > 0 ? padded : 1)), sizeof(uint32_t)); /* a, b, mins */
    if (!xs || !pad) {
        free(xs);
        free(pad);
        return -1;
    }
    uint32_t *pa = pad, *pb = pad + padded, *mins = pad + 2 * padded;
    for (int p = 0; p < num_perm; p++) {
        pa[p] = a[p];
        pb[p] = b[p];
    }
    for (int64_t d = 0; d < docs; d++) {
        const uint64_t *w = words + offsets[d];
        int64_t count = offsets[d + 1] - offsets[d], shingles = count - n + 1;
        if (count < n) {
            xs[0] = (uint32_t)(whole[d] >> 32);
            shingles = 1;
        } else {
            for (int64_t i = 0; i < shingles; i++) {
                uint64_t h = 0;
                for (int k = 0; k < n; k++) h += w[i + k] * coef[k];
                xs[i] = (uint32_t)(h >> 32);
            }
        }
        doc_minhash(xs, shingles, pa, pb, padded, mins);
        for (int p = 0; p < num_perm; p++) out[(int64_t)p * docs + d] = (uint16_t)mins[p];
    }
    free(xs);
    free(pad);
    return 0;
}

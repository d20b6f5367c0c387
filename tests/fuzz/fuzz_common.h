/* fuzz_common.h: what every libFuzzer harness of arcalloc shares: a reader that turns the fuzz
 * input into operation codes and numbers (zeros once it runs dry), the check that aborts on any
 * disagreement with a model, and position-dependent fill patterns. Header-only; never allocates. */
#ifndef ARC_FUZZ_COMMON_H
#define ARC_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry point, declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A disagreement with the model: one line naming the check, then abort (libFuzzer keeps the
 * input as a crash reproducer). The format is required (C11 has no empty __VA_ARGS__). */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: model disagrees: %s: ", __FILE__, __LINE__, #cond);            \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The fuzz input, read front to back. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t left;
} fuzz_in_t;

static inline bool fuzz_more(const fuzz_in_t *in)
{
    return in->left > 0;
}

static inline uint8_t fuzz_u8(fuzz_in_t *in)
{
    if (!in->left)
        return 0;
    in->left--;
    return *in->p++;
}

/* Little-endian, so a short input still gives small numbers. */
static inline uint64_t fuzz_bytes(fuzz_in_t *in, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)fuzz_u8(in) << (8 * i);
    return v;
}

static inline uint16_t fuzz_u16(fuzz_in_t *in)
{
    return (uint16_t)fuzz_bytes(in, 2);
}

static inline uint32_t fuzz_u32(fuzz_in_t *in)
{
    return (uint32_t)fuzz_bytes(in, 4);
}

static inline uint64_t fuzz_u64(fuzz_in_t *in)
{
    return fuzz_bytes(in, 8);
}

/* A number in [0, n), n > 0: two bytes when n fits them, else four or eight. */
static inline size_t fuzz_below(fuzz_in_t *in, size_t n)
{
    if (n <= (1u << 16))
        return fuzz_u16(in) % n;
    if (n <= ((size_t)1 << 32))
        return fuzz_u32(in) % n;
    return (size_t)(fuzz_u64(in) % n);
}

/* The pattern loops touch only blocks the harness has already checked lie inside memory that is
 * all addressable to ASan (its static pool, arcalloc's own mappings): a shadow check on every
 * load there cost half the run time and can find nothing. */
#if defined(__GNUC__)
#define FUZZ_NO_ASAN __attribute__((no_sanitize("address")))
#else
#define FUZZ_NO_ASAN
#endif

/* Fill patterns: word k (8 bytes, little-endian, counted from the block start) of a block seeded
 * with `seed` is a hash of both, so a block copied or moved by any offset shows; its top byte
 * has the high bit set, so no aligned word of a filled block reads as a plausible size or
 * header (values >= 2^63): a byte allocator that judges a pointer by the word before it (TLSF)
 * can always tell a pointer into a filled block from a block start. Whole words at a time: the
 * harnesses fill and verify every byte of every block, so this is their hottest loop. */
#define FUZZ_FILL_MUL1 0x9e3779b97f4a7c15ull /* 2^64 / golden ratio (Fibonacci hashing) */
#define FUZZ_FILL_MUL2 0xd6e8feb86659fd93ull /* an odd 64-bit multiplier with mixed bits */
#define FUZZ_FILL_TOP  0x8000000000000000ull

FUZZ_NO_ASAN static inline uint64_t fuzz_fill_word(uint8_t seed, size_t k)
{
    uint64_t w = ((uint64_t)seed + 1) * FUZZ_FILL_MUL1 ^ ((uint64_t)k + 1) * FUZZ_FILL_MUL2;
    return (w ^ (w >> 29)) | FUZZ_FILL_TOP;
}

FUZZ_NO_ASAN static inline uint8_t fuzz_fill_byte(uint8_t seed, size_t i)
{
    return (uint8_t)(fuzz_fill_word(seed, i / 8) >> (8 * (i % 8)));
}

/* Bytes [from, to) of the block at p get their pattern bytes. */
FUZZ_NO_ASAN static inline void fuzz_fill(unsigned char *p, size_t from, size_t to, uint8_t seed)
{
    size_t i = from;
    for (; i < to && i % 8; i++)
        p[i] = fuzz_fill_byte(seed, i);
    for (; i + 8 <= to; i += 8) {
        uint64_t w = fuzz_fill_word(seed, i / 8);
        memcpy(p + i, &w, 8);
    }
    for (; i < to; i++)
        p[i] = fuzz_fill_byte(seed, i);
}

/* The first offset in [from, to) that lost its pattern, or `to` when all are intact. */
FUZZ_NO_ASAN static inline size_t fuzz_fill_bad(const unsigned char *p, size_t from, size_t to,
                                                uint8_t seed)
{
    size_t i = from;
    for (; i < to && i % 8; i++)
        if (p[i] != fuzz_fill_byte(seed, i))
            return i;
    for (; i + 8 <= to; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w != fuzz_fill_word(seed, i / 8))
            break;
    }
    for (; i < to; i++)
        if (p[i] != fuzz_fill_byte(seed, i))
            return i;
    return to;
}

#endif

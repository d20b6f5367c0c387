/* bits.h: the bit scans, the power-of-two test and the take_free argument check that the byte
 * allocators (buddy.c, slab.c, tlsf.c) share, on 64-bit words. Header-only pure functions: owns no
 * state and must never call the OS, allocate, lock, print or keep globals. */
#ifndef ARC_BITS_H
#define ARC_BITS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arcalloc.h"

/* Bits in the words the scans take (house rule: 64-bit bitmap words). */
#define ARC_WORD_BITS 64u

_Static_assert(sizeof(uint64_t) * CHAR_BIT == ARC_WORD_BITS, "words are uint64_t");
_Static_assert(sizeof(unsigned long long) == sizeof(uint64_t), "the builtins take whole words");

/* The index of x's highest set bit: floor(log2 x). x != 0 (the builtin is undefined at 0). */
static inline unsigned arc_bit_msb(uint64_t x)
{
    return ARC_WORD_BITS - 1 - (unsigned)__builtin_clzll(x);
}

/* The index of x's lowest set bit. x != 0. */
static inline unsigned arc_bit_lsb(uint64_t x)
{
    return (unsigned)__builtin_ctzll(x);
}

/* Is x a power of two (0 is not)? */
/* The checks every take_free starts with: ARC_INVALID_PARAM without `out`; else *out is cleared
 * and a min_size above `largest` (the backend's largest block) is ARC_NO_MEMORY, before any
 * arithmetic on it could wrap. ARC_OK: go on. */
static inline int arc_take_free_args(void **out, size_t min_size, size_t largest)
{
    if (!out)
        return ARC_INVALID_PARAM;
    *out = NULL;
    return min_size > largest ? ARC_NO_MEMORY : ARC_OK;
}

static inline bool arc_is_pow2(size_t x)
{
    return x && !(x & (x - 1));
}

#endif

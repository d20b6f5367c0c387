/* cxx.c: owns C++ operator new and delete in every form, written in C under their Itanium-ABI
 * names so libarcalloc.so needs no C++ runtime. A failing new asks the program's new-handler,
 * then throws std::bad_alloc through libstdc++ (present in any program that calls new). Each
 * behaviour has one definition; the other names with the same signature are aliases of it.
 * Must never hold allocation logic beyond the new-handler loop, never link against the C++
 * runtime, and never call the OS itself (abort goes through arc_os_abort). */
#include <stddef.h>

#include "arcalloc.h"
#include "os.h"

#define SHIM ARC_API
/* A second name for the function defined above under the mangled name `target`. */
#define ALIAS_OF(target) __attribute__((alias(target)))

typedef void (*new_handler_fn)(void);
/* From libstdc++, resolved at run time when the program is C++. */
extern new_handler_fn cxx_get_new_handler(void) __asm__("_ZSt15get_new_handlerv")
    __attribute__((weak));
extern _Noreturn void cxx_throw_bad_alloc(void) __asm__("_ZSt17__throw_bad_allocv")
    __attribute__((weak));

static void *new_failed(size_t size, size_t align, int nothrow)
{
    for (;;) {
        new_handler_fn handler = cxx_get_new_handler ? cxx_get_new_handler() : NULL;
        if (!handler) {
            if (nothrow)
                return NULL;
            if (cxx_throw_bad_alloc)
                cxx_throw_bad_alloc();
            arc_os_abort();
        }
        handler();
        void *p = align ? arc_aligned_alloc(align, size) : arc_malloc(size);
        if (p)
            return p;
    }
}

static inline void *new_plain(size_t size, int nothrow)
{
    void *p = arc_malloc(size);
    return p ? p : new_failed(size, 0, nothrow);
}

static inline void *new_aligned(size_t size, size_t align, int nothrow)
{
    void *p = arc_aligned_alloc(align, size);
    return p ? p : new_failed(size, align, nothrow);
}

/* The nothrow_t argument is an empty struct passed by reference: a pointer we ignore. An
 * align_val_t is a size_t. new[] behaves as new and delete[] as delete, so each array form is
 * an alias of the plain one. */

/* new, new[]: throw std::bad_alloc when out of memory. */
SHIM void *op_new(size_t) __asm__("_Znwm");
SHIM void *op_new(size_t size)
{
    return new_plain(size, 0);
}
SHIM void *op_new_array(size_t) __asm__("_Znam") ALIAS_OF("_Znwm");

/* new(nothrow), new[](nothrow): NULL when out of memory. */
SHIM void *op_new_nothrow(size_t, const void *) __asm__("_ZnwmRKSt9nothrow_t");
SHIM void *op_new_nothrow(size_t size, const void *tag)
{
    (void)tag;
    return new_plain(size, 1);
}
SHIM void *op_new_array_nothrow(size_t, const void *) __asm__("_ZnamRKSt9nothrow_t")
    ALIAS_OF("_ZnwmRKSt9nothrow_t");

/* new(align_val_t), new[](align_val_t). */
SHIM void *op_new_aligned(size_t, size_t) __asm__("_ZnwmSt11align_val_t");
SHIM void *op_new_aligned(size_t size, size_t align)
{
    return new_aligned(size, align, 0);
}
SHIM void *op_new_array_aligned(size_t, size_t) __asm__("_ZnamSt11align_val_t")
    ALIAS_OF("_ZnwmSt11align_val_t");

/* new(align_val_t, nothrow), new[](align_val_t, nothrow). */
SHIM void *op_new_aligned_nothrow(size_t, size_t,
                                  const void *) __asm__("_ZnwmSt11align_val_tRKSt9nothrow_t");
SHIM void *op_new_aligned_nothrow(size_t size, size_t align, const void *tag)
{
    (void)tag;
    return new_aligned(size, align, 1);
}
SHIM void *op_new_array_aligned_nothrow(size_t, size_t,
                                        const void *) __asm__("_ZnamSt11align_val_tRKSt9nothrow_t")
    ALIAS_OF("_ZnwmSt11align_val_tRKSt9nothrow_t");

/* A delete without a size is arc_free: it finds the block's size and alignment itself, so the
 * alignment and nothrow arguments are not used. A sized delete goes through arc_free_sized (or
 * arc_free_aligned_sized), which checks the size: one larger than the block aborts in every
 * build, and in secure mode any size that is not the block's ("sized free with the wrong size").
 * One definition per signature, since an alias must keep its target's type. */

/* delete, delete[]. */
SHIM void op_delete(void *) __asm__("_ZdlPv");
SHIM void op_delete(void *p)
{
    arc_free(p);
}
SHIM void op_delete_array(void *) __asm__("_ZdaPv") ALIAS_OF("_ZdlPv");

/* delete(size_t), delete[](size_t). */
SHIM void op_delete_sized(void *, size_t) __asm__("_ZdlPvm");
SHIM void op_delete_sized(void *p, size_t size)
{
    arc_free_sized(p, size);
}
SHIM void op_delete_array_sized(void *, size_t) __asm__("_ZdaPvm") ALIAS_OF("_ZdlPvm");

/* delete(align_val_t), delete[](align_val_t). */
SHIM void op_delete_aligned(void *, size_t) __asm__("_ZdlPvSt11align_val_t");
SHIM void op_delete_aligned(void *p, size_t align)
{
    (void)align;
    arc_free(p);
}
SHIM void op_delete_array_aligned(void *, size_t) __asm__("_ZdaPvSt11align_val_t")
    ALIAS_OF("_ZdlPvSt11align_val_t");

/* delete(nothrow), delete[](nothrow). */
SHIM void op_delete_nothrow(void *, const void *) __asm__("_ZdlPvRKSt9nothrow_t");
SHIM void op_delete_nothrow(void *p, const void *tag)
{
    (void)tag;
    arc_free(p);
}
SHIM void op_delete_array_nothrow(void *, const void *) __asm__("_ZdaPvRKSt9nothrow_t")
    ALIAS_OF("_ZdlPvRKSt9nothrow_t");

/* delete(size_t, align_val_t), delete[](size_t, align_val_t). */
SHIM void op_delete_sized_aligned(void *, size_t, size_t) __asm__("_ZdlPvmSt11align_val_t");
SHIM void op_delete_sized_aligned(void *p, size_t size, size_t align)
{
    arc_free_aligned_sized(p, align, size);
}
SHIM void op_delete_array_sized_aligned(void *, size_t, size_t) __asm__("_ZdaPvmSt11align_val_t")
    ALIAS_OF("_ZdlPvmSt11align_val_t");

/* delete(align_val_t, nothrow), delete[](align_val_t, nothrow). */
SHIM void op_delete_aligned_nothrow(void *, size_t,
                                    const void *) __asm__("_ZdlPvSt11align_val_tRKSt9nothrow_t");
SHIM void op_delete_aligned_nothrow(void *p, size_t align, const void *tag)
{
    (void)align;
    (void)tag;
    arc_free(p);
}
SHIM void op_delete_array_aligned_nothrow(void *, size_t, const void *) __asm__(
    "_ZdaPvSt11align_val_tRKSt9nothrow_t") ALIAS_OF("_ZdlPvSt11align_val_tRKSt9nothrow_t");

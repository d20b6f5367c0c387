#!/bin/sh
# check_exports.sh LIB [NAME...]: libarcalloc.so exports only the standard allocation names,
# glibc's __libc_* names, C++ operator new/delete and the public arc_* API. Anything else fails.
# The NAMEs are glibc's extensions the C library declares (meson's checks): they must be there too.
set -u
lib=$1
shift
allowed='^(malloc|free|calloc|realloc|reallocarray|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|malloc_usable_size|free_sized|free_aligned_sized|malloc_trim|mallinfo|mallinfo2|malloc_stats|malloc_info|mallopt|__libc_(malloc|free|calloc|realloc|memalign|valloc|pvalloc)|__posix_memalign|arc_[a-z0-9_]+|_Zn[wa]m.*|_Zd[la]Pv.*|_init|_fini)$'
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u)
bad=$(printf '%s\n' "$syms" | grep -Ev "$allowed")
need="$* malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign valloc malloc_usable_size free_sized free_aligned_sized __libc_malloc __libc_free __libc_calloc __libc_realloc __libc_memalign _Znwm _Znam _ZdlPv _ZdaPv _ZdlPvm _ZnwmSt11align_val_t _ZdlPvSt11align_val_t _ZnwmRKSt9nothrow_t arc_malloc arc_free arc_heap_new arc_pages_alloc arc_tlsf_ops"
missing=""
for s in $need; do
    printf '%s\n' "$syms" | grep -qx "$s" || missing="$missing $s"
done
status=0
if [ -n "$bad" ]; then echo "unexpected exports:"; echo "$bad"; status=1; fi
if [ -n "$missing" ]; then echo "missing exports:$missing"; status=1; fi
echo "$(printf '%s\n' "$syms" | wc -l) exported symbols checked"
exit $status

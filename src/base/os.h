/* os.h: the only doorway to the operating system. Everything above calls these and never
 * mmap, madvise, write or abort directly, so the policy lives in one place and tests can
 * count the calls. */
#ifndef ARC_OS_H
#define ARC_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The OS page size, read once (the auxiliary vector's AT_PAGESZ, else sysconf): 4 KiB on
 * x86_64, 4, 16 or 64 KiB on arm64, 64 KiB on ppc64. arcalloc's own pages stay ARC_PAGE_SIZE
 * (4 KiB); what this module decommits, protects, moves or maps at an address is whole OS pages.
 * A build with -Dos_page_size_test=N (ARC_OS_PAGE_SIZE_TEST) answers N when that is above the
 * real size, so a 4 KiB kernel runs the paths of larger pages, and aborts on any protect, move or
 * fixed map that is not whole OS pages (a bug in the caller). A power of two. */
size_t arc_os_page_size(void);

/* Reserves up to `size` bytes of address space aligned to min(`align`, size) (powers of two),
 * readable and writable but not committed: pages cost memory only once touched. If the OS refuses
 * (RLIMIT_AS, strict overcommit) the size is halved, down to a whole multiple of `min_size`,
 * until `min_size`; *got receives what was reserved. Returns NULL when even min_size fails. */
void *arc_os_reserve(size_t size, size_t min_size, size_t align, size_t *got);
/* The same, inaccessible (PROT_NONE) until arc_os_protect opens parts of it. Under strict
 * overcommit (vm.overcommit_memory=2, where the kernel ignores MAP_NORESERVE) it is also cheaper:
 * an inaccessible private mapping is not charged to the commit limit, so the full size is
 * reserved at once and each part is charged when it is opened (arc_os_protect then fails when
 * the limit is reached), where arc_os_reserve's readable mapping is charged whole. */
void *arc_os_reserve_closed(size_t size, size_t min_size, size_t align, size_t *got);
/* Fresh zero-filled memory for metadata, page-granular. NULL on failure. */
void *arc_os_map(size_t size);
void arc_os_unmap(void *addr, size_t size);
/* Metadata bump allocation: `size` bytes (already rounded by the caller) carved from chunks of
 * at least `chunk` bytes (a power of two) mapped on demand, never given back. The caller
 * serialises calls on one arc_os_bump_t. NULL when the OS refuses. */
typedef struct arc_os_bump {
    char *cur, *end;
} arc_os_bump_t;
void *arc_os_bump(arc_os_bump_t *bump, size_t size, size_t chunk);
/* Gives the physical pages of [addr, addr+size) back; the range stays reserved and reads as
 * zero next time. ARC_PAGE_SIZE-aligned arguments: the whole OS pages inside go back, and the
 * bytes of an OS page the range covers only in part (it shares that page with a neighbour) are
 * zeroed instead, so those parts must be readable and writable. False when the kernel refused
 * (pages the program locked, on a kernel before Linux 5.18): the whole OS pages then keep their
 * bytes and stay resident. */
bool arc_os_decommit(void *addr, size_t size);
/* arc_os_decommit, and where the kernel refuses, zeros stored instead: the range reads as zero
 * either way. The whole range must be readable and writable. */
void arc_os_decommit_zero(void *addr, size_t size);
/* Moves the pages of [from, from+size) to [to, to+size) (mremap, MREMAP_FIXED): `to` is
 * replaced, `from` is left unmapped (a hole). False when refused (nothing changed then), and
 * without a system call when the ranges are not whole OS pages: the caller copies instead. */
bool arc_os_move(void *from, void *to, size_t size);
/* Maps fresh reserved memory, readable and writable (as arc_os_reserve), exactly at
 * [addr, addr+size), only if nothing is mapped there (MAP_FIXED_NOREPLACE: never over another
 * mapping). Whole OS pages. False when refused. */
bool arc_os_map_at(void *addr, size_t size);
/* The same, inaccessible (as arc_os_reserve_closed): the arena's window placed, or grown, at an
 * address of its choosing. */
bool arc_os_reserve_closed_at(void *addr, size_t size);

/* The kernel's transparent huge pages (THP), read from sysfs at start-up: its mode (`enabled`:
 * never, madvise, always; NEVER when it cannot be read) and the size of one huge page
 * (`hpage_pmd_size`, 0 when unknown). */
typedef enum arc_os_thp_mode {
    ARC_OS_THP_NEVER,   /* no huge pages for anonymous memory, asked for or not */
    ARC_OS_THP_MADVISE, /* huge pages only where MADV_HUGEPAGE asks for them */
    ARC_OS_THP_ALWAYS,  /* huge pages wherever they fit, unless MADV_NOHUGEPAGE */
} arc_os_thp_mode_t;
typedef struct arc_os_thp {
    arc_os_thp_mode_t mode;
    size_t huge_page_bytes;
} arc_os_thp_t;
void arc_os_thp_read(arc_os_thp_t *out);
/* Asks the kernel to back [addr, addr+size) with huge pages where they fit (huge = true:
 * MADV_HUGEPAGE), or never to (MADV_NOHUGEPAGE). Page-aligned arguments; the range may hold
 * inaccessible parts (the advice stays on them for when they are opened); false when refused (a
 * kernel without THP). */
bool arc_os_hugepages(void *addr, size_t size, bool huge);

/* Makes [addr, addr+size) inaccessible (accessible = false: PROT_NONE, a guard page) or readable
 * and writable (again, or for the first time in a reservation made closed). Whole OS pages
 * (arc_os_page_size); false when they are not, or when the OS refuses (vm.max_map_count; under
 * strict overcommit, the commit limit when opening). */
bool arc_os_protect(void *addr, size_t size, bool accessible);
/* Guard pages: closes [addr, addr+size) (any access faults, SIGSEGV) or opens it again. By
 * default a guard is arc_os_protect's PROT_NONE: the mapping splits around it, and the pages
 * under a closed guard keep their frames, so a guard opened again costs no page fault. After
 * arc_os_guards_use_markers(), where the kernel has guard regions (Linux 6.13: madvise
 * MADV_GUARD_INSTALL / MADV_GUARD_REMOVE), a guard is a marker in the page tables: no split
 * mapping, nothing counted against vm.max_map_count, and the mmap lock taken for reading, not
 * writing, so threads that close and open guards at once do not queue on it; but closing frees
 * the pages under it (an opened guard reads as zero and faults again when written). Whole OS
 * pages; false when they are not or the OS refuses. */
bool arc_os_guard(void *addr, size_t size, bool closed);
/* Guards from now on are page-table markers where the kernel has them (ARCALLOC_GUARDS=markers):
 * called before the first guard is closed, since a marker is not opened by mprotect nor a
 * PROT_NONE mapping by madvise. */
void arc_os_guards_use_markers(void);
/* True when closing a guard frees the pages under it (markers in use): they read as zero once
 * opened. */
bool arc_os_guard_discards(void);
/* True when the CPU runs 256-bit integer vector code (x86-64's AVX2, with the OS saving those
 * registers); false on other machines and compilers. */
bool arc_os_cpu_wide_vectors(void);
/* Fills buf with len bytes from the kernel's random source (getrandom); never fails: without
 * one it falls back to a mix of the clock and addresses (weak, but never a fixed value). */
void arc_os_random(void *buf, size_t len);

/* Raw output for reports: never allocates. */
void arc_os_write(int fd, const char *buf, size_t len);
/* Opens path for writing (the heap profile's files): created with mode 0644 (less the umask)
 * or truncated, close-on-exec. The descriptor, or -1 with errno set. */
int arc_os_open_write(const char *path);
void arc_os_close(int fd);
/* Opens path for appending (the statistics report): created with mode 0644 (less the umask),
 * emptied first when `truncate`, close-on-exec. The descriptor, or -1 with errno set. */
int arc_os_open_append(const char *path, bool truncate);
/* Opens path read-only, close-on-exec (/proc files); -1 with errno set when it cannot. */
int arc_os_open_read(const char *path);
/* A close-on-exec copy of fd numbered 3 or above; -1 when it cannot. */
int arc_os_dup(int fd);
/* Which file fd is open on (device and inode), to tell later whether a number still names it;
 * false when fd is not open. */
typedef struct arc_os_file_id {
    uint64_t dev, ino;
} arc_os_file_id_t;
bool arc_os_file_id(int fd, arc_os_file_id_t *id);
/* Runs handler on signal sig (SA_RESTART: interrupted calls go on); false when refused. */
bool arc_os_on_signal(int sig, void (*handler)(int));
/* Reads up to len bytes; the count, 0 at the end, -1 on error. */
long arc_os_read(int fd, void *buf, size_t len);
_Noreturn void arc_os_abort(void);
int arc_os_getpid(void);
/* Nanoseconds of CLOCK_MONOTONIC (a vDSO call: no system call). */
uint64_t arc_os_now_ns(void);
/* Starts a detached thread running fn(arg) with every signal blocked and a stack of stack_bytes,
 * named `name` for ps and debuggers. False when the OS refuses. The caller must hold no lock a
 * nested malloc could need: thread creation allocates. */
bool arc_os_thread_start(void *(*fn)(void *), void *arg, size_t stack_bytes, const char *name);
/* Whether starting a thread may be done from inside any free the C library makes: glibc frees a
 * joined thread's thread-local blocks while it holds its stack-cache lock, which pthread_create
 * takes, so there only while the process has never started a thread (none is cached then). True
 * with musl, whose threads keep their thread-local blocks in their own mapping. */
bool arc_os_thread_start_safe_anywhere(void);
/* Resident bytes of the process, from /proc (0 when unknown). */
size_t arc_os_resident_bytes(void);
/* The address space the process may still map under its RLIMIT_AS (the limit less what it maps
 * now), or SIZE_MAX when there is no limit. */
size_t arc_os_address_room(void);
/* Bytes of [start, start + len) that are resident (mincore), or SIZE_MAX when the OS cannot say
 * (a part of the range is not mapped). */
size_t arc_os_resident_in(const void *start, size_t len);
/* Whether a page of this process may be in swap: the system has swap space (sysinfo), as seen at
 * most a second ago. False means an anonymous page not resident reads as zero. */
bool arc_os_swap_possible(void);
/* Called by arc_os_residency for one stretch of pages all resident or all not; returns false to
 * stop the walk. */
typedef bool arc_os_stretch_fn(void *ctx, uintptr_t addr, size_t size, bool resident);
/* Walks [start, start + len) in address order, stretch by stretch (mincore, by the kernel's
 * pages), each stretch within the range (the pages at its ends may overhang it); false when the
 * OS cannot say (the stretches seen so far were reported). */
bool arc_os_residency(uintptr_t start, size_t len, arc_os_stretch_fn *fn, void *ctx);
/* The process's peak resident bytes (getrusage; 0 when unknown). */
size_t arc_os_peak_resident_bytes(void);

/* Counts of calls made, for the statistics. */
typedef struct arc_os_counts {
    size_t reserve_calls, map_calls, unmap_calls, decommit_calls, decommitted_bytes, move_calls;
    size_t hugepage_calls; /* arc_os_hugepages calls the kernel accepted */
} arc_os_counts_t;
void arc_os_counts_get(arc_os_counts_t *out);

#endif

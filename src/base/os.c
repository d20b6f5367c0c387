/* os.c: every system call arcalloc makes (mmap, munmap, mremap, madvise, mprotect, getrandom,
 * open, write, close, abort, /proc and /sys reads), and what the CPU can run.
 * It holds no allocator state beyond call counters and never calls malloc. */
#include "os.h"

#include "arcalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/auxv.h>
#if defined(__GLIBC__) && __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#endif
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

/* splitmix64's constants (Steele, Lea and Flood, "Fast splittable pseudorandom number
 * generators", 2014): the fallback mixer of arc_os_random. */
#define SPLITMIX_GAMMA 0x9e3779b97f4a7c15ULL
#define SPLITMIX_MUL1  0xbf58476d1ce4e5b9ULL
#define SPLITMIX_MUL2  0x94d049bb133111ebULL
#define NS_PER_SEC     ((uint64_t)1000 * 1000 * 1000)

/* Linux 4.17's flag; older kernels ignore it and treat the address as a hint, which
 * arc_os_map_at checks for. The value is the kernel's (include/uapi/asm-generic/mman-common.h). */
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* ---- the OS page --------------------------------------------------------------------------
 * Read once, on first use (the auxiliary vector needs no system call). No Linux port has pages
 * below arcalloc's own 4 KiB; a smaller answer is taken as 4 KiB, whose ranges are whole pages
 * of any smaller size too. */
#define OS_PAGE_MIN ((size_t)ARC_PAGE_SIZE)
#if ARC_OS_PAGE_SIZE_TEST
_Static_assert((ARC_OS_PAGE_SIZE_TEST & (ARC_OS_PAGE_SIZE_TEST - 1)) == 0,
               "os_page_size_test is a power of two");
#endif

static _Atomic size_t os_page;

size_t arc_os_page_size(void)
{
    size_t page = atomic_load_explicit(&os_page, memory_order_relaxed);
    if (page)
        return page;
    page = (size_t)getauxval(AT_PAGESZ);
    if (page == 0) {
        long answer = sysconf(_SC_PAGESIZE);
        page = answer > 0 ? (size_t)answer : OS_PAGE_MIN;
    }
    if (page < OS_PAGE_MIN)
        page = OS_PAGE_MIN;
#if ARC_OS_PAGE_SIZE_TEST
    if (page < (size_t)ARC_OS_PAGE_SIZE_TEST)
        page = (size_t)ARC_OS_PAGE_SIZE_TEST;
#endif
    atomic_store_explicit(&os_page, page, memory_order_relaxed);
    return page;
}

static bool whole_os_pages(const void *addr, size_t size)
{
    size_t mask = arc_os_page_size() - 1;
    return (((uintptr_t)addr | size) & mask) == 0;
}

/* A protect or a fixed map asked on part of an OS page: the kernel would round it to whole pages
 * and reach a neighbour's memory, so it is refused. It is a caller's bug, which a page-size test
 * build reports and stops at. */
static bool refuse_part_of_page(void)
{
#if ARC_OS_PAGE_SIZE_TEST
    static const char msg[] = "arcalloc: an OS call on part of an OS page (os_page_size_test)\n";
    arc_os_write(STDERR_FILENO, msg, sizeof msg - 1);
    abort();
#endif
    return false;
}

static _Atomic size_t count_reserve, count_map, count_unmap, count_decommit, bytes_decommitted,
    count_move, count_hugepage;

static void *map_aligned(size_t size, size_t align, int prot)
{
    /* Whole OS pages, so that the head and tail trimmed below are whole pages too. */
    size_t page = arc_os_page_size();
    if (align < page)
        align = page;
    if (size > SIZE_MAX - page)
        return NULL;
    size = (size + page - 1) & ~(page - 1);
    size_t span = size + align;
    if (span < size)
        return NULL;
    char *raw = mmap(NULL, span, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)raw, tail = span - head - size;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((char *)start + size, tail);
    return (void *)start;
}

static void *reserve_halving(size_t size, size_t min_size, size_t align, int prot, size_t *got)
{
    if (min_size == 0)
        return NULL;
    /* Halved sizes stay whole multiples of min_size. */
    for (; size >= min_size; size = size / 2 / min_size * min_size) {
        /* A halved reservation asks only its own size in alignment: the full alignment would
         * cost as much address space again, which a tight RLIMIT_AS does not have. */
        size_t a = align;
        while (a > size) /* a power of two still */
            a /= 2;
        void *p = map_aligned(size, a, prot);
        if (p) {
            atomic_fetch_add_explicit(&count_reserve, 1, memory_order_relaxed);
            *got = size;
            return p;
        }
    }
    *got = 0;
    return NULL;
}

void *arc_os_reserve(size_t size, size_t min_size, size_t align, size_t *got)
{
    return reserve_halving(size, min_size, align, PROT_READ | PROT_WRITE, got);
}

void *arc_os_reserve_closed(size_t size, size_t min_size, size_t align, size_t *got)
{
    return reserve_halving(size, min_size, align, PROT_NONE, got);
}

void *arc_os_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    atomic_fetch_add_explicit(&count_map, 1, memory_order_relaxed);
    return p;
}

void arc_os_unmap(void *addr, size_t size)
{
    munmap(addr, size);
    atomic_fetch_add_explicit(&count_unmap, 1, memory_order_relaxed);
}

void *arc_os_bump(arc_os_bump_t *bump, size_t size, size_t chunk)
{
    if ((size_t)(bump->end - bump->cur) < size) {
        size_t span = size > chunk ? (size + chunk - 1) & ~(chunk - 1) : chunk;
        char *fresh = arc_os_map(span);
        if (!fresh)
            return NULL;
        bump->cur = fresh;
        bump->end = fresh + span;
    }
    void *p = bump->cur;
    bump->cur += size;
    return p;
}

/* Linux 5.18's advice (include/uapi/asm-generic/mman-common.h): MADV_DONTNEED that also drops
 * locked pages, for C library headers older than the kernel. */
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif

bool arc_os_decommit(void *addr, size_t size)
{
    /* Only whole OS pages can go back. The range's parts of the OS pages it shares with its
     * neighbours (when OS pages are larger than arcalloc's) are zeroed: the whole range then
     * reads as zero, as the contract says. */
    uintptr_t mask = arc_os_page_size() - 1, start = (uintptr_t)addr, end = start + size;
    uintptr_t inner_start = (start + mask) & ~mask, inner_end = end & ~mask;
    if (inner_start >= inner_end) {
        memset(addr, 0, size);
        return true;
    }
    memset(addr, 0, inner_start - start);
    memset((void *)inner_end, 0, end - inner_end);
    /* MADV_DONTNEED, not MADV_FREE: RSS must drop at once and the pages must read as zero,
     * which lets calloc skip clearing fresh page runs. It refuses pages the program locked
     * (mlock, mlockall: EINVAL), which MADV_DONTNEED_LOCKED takes; that one is believed only
     * when no page is left resident after it (qemu-user answers success and does nothing). */
    void *inner = (void *)inner_start;
    size_t len = inner_end - inner_start;
    if (madvise(inner, len, MADV_DONTNEED) != 0 &&
        (madvise(inner, len, MADV_DONTNEED_LOCKED) != 0 || arc_os_resident_in(inner, len) != 0))
        return false;
    atomic_fetch_add_explicit(&count_decommit, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&bytes_decommitted, len, memory_order_relaxed);
    return true;
}

void arc_os_decommit_zero(void *addr, size_t size)
{
    if (!arc_os_decommit(addr, size))
        memset(addr, 0, size);
}

bool arc_os_move(void *from, void *to, size_t size)
{
    if (!whole_os_pages(from, size) || !whole_os_pages(to, 0))
        return false; /* mremap would take the neighbour's part of the last page along */
    void *p = mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    if (p == MAP_FAILED)
        return false;
    atomic_fetch_add_explicit(&count_move, 1, memory_order_relaxed);
    return true;
}

/* A fresh NORESERVE mapping exactly at [addr, addr+size), never over another one; counted in
 * `count` (maps or reservations). */
static bool map_exactly(void *addr, size_t size, int prot, _Atomic size_t *count)
{
    if (!whole_os_pages(addr, size))
        return refuse_part_of_page();
    void *p = mmap(addr, size, prot,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
    if (p != addr) { /* a kernel without MAP_FIXED_NOREPLACE took the address as a hint */
        arc_os_unmap(p, size);
        return false;
    }
    return true;
}

bool arc_os_map_at(void *addr, size_t size)
{
    return map_exactly(addr, size, PROT_READ | PROT_WRITE, &count_map);
}

bool arc_os_reserve_closed_at(void *addr, size_t size)
{
    return map_exactly(addr, size, PROT_NONE, &count_reserve);
}

/* The kernel's THP settings (Documentation/admin-guide/mm/transhuge.rst): `enabled` reads like
 * "always [madvise] never", the mode in force in brackets; `hpage_pmd_size` is the huge page's
 * size in bytes. */
#define THP_ENABLED_PATH  "/sys/kernel/mm/transparent_hugepage/enabled"
#define THP_PMD_SIZE_PATH "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
/* Longest text read from either file: the `enabled` line is about 25 characters. */
#define THP_TEXT_MAX 64

/* Reads up to THP_TEXT_MAX - 1 bytes of path into buf as a C string; false when it cannot. */
static bool read_small_file(const char *path, char buf[THP_TEXT_MAX])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, THP_TEXT_MAX - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return true;
}

bool arc_os_cpu_wide_vectors(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init(); /* may run before the constructors that would have done it */
    return __builtin_cpu_supports("avx2");
#else
    return false;
#endif
}

void arc_os_thp_read(arc_os_thp_t *out)
{
    char buf[THP_TEXT_MAX];
    *out = (arc_os_thp_t){.mode = ARC_OS_THP_NEVER, .huge_page_bytes = 0};
    if (read_small_file(THP_ENABLED_PATH, buf)) {
        if (strstr(buf, "[always]"))
            out->mode = ARC_OS_THP_ALWAYS;
        else if (strstr(buf, "[madvise]"))
            out->mode = ARC_OS_THP_MADVISE;
    }
    if (read_small_file(THP_PMD_SIZE_PATH, buf)) {
        size_t bytes = 0;
        for (const char *s = buf; *s >= '0' && *s <= '9'; s++)
            bytes = bytes * 10 + (size_t)(*s - '0');
        out->huge_page_bytes = bytes;
    }
}

bool arc_os_hugepages(void *addr, size_t size, bool huge)
{
    if (madvise(addr, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0)
        return false;
    atomic_fetch_add_explicit(&count_hugepage, 1, memory_order_relaxed);
    return true;
}

bool arc_os_protect(void *addr, size_t size, bool accessible)
{
    if (!whole_os_pages(addr, size))
        return refuse_part_of_page();
    return mprotect(addr, size, accessible ? PROT_READ | PROT_WRITE : PROT_NONE) == 0;
}

/* Guard regions' advice values (Linux 6.13, include/uapi/asm-generic/mman-common.h), for C
 * library headers older than the kernel. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif

/* How guards are made: PROT_NONE mappings unless markers were asked for; asked for, not known
 * until the first one (the kernel answers), then for good. */
enum { GUARDS_UNKNOWN = 0, GUARDS_MARKERS = 1, GUARDS_PROTECT = 2 };
static _Atomic int guards_kind = GUARDS_PROTECT;

void arc_os_guards_use_markers(void)
{
    atomic_store_explicit(&guards_kind, GUARDS_UNKNOWN, memory_order_relaxed);
}

bool arc_os_guard_discards(void)
{
    return atomic_load_explicit(&guards_kind, memory_order_relaxed) == GUARDS_MARKERS;
}

bool arc_os_guard(void *addr, size_t size, bool closed)
{
    if (!whole_os_pages(addr, size))
        return refuse_part_of_page();
    int kind = atomic_load_explicit(&guards_kind, memory_order_relaxed);
    if (kind != GUARDS_PROTECT) {
        if (madvise(addr, size, closed ? MADV_GUARD_INSTALL : MADV_GUARD_REMOVE) == 0) {
            if (kind == GUARDS_UNKNOWN)
                atomic_store_explicit(&guards_kind, GUARDS_MARKERS, memory_order_relaxed);
            return true;
        }
        /* EINVAL from a kernel without guard regions (arcalloc's window is a private anonymous
         * mapping, the kind they serve): PROT_NONE from now on. */
        if (kind == GUARDS_MARKERS || errno != EINVAL)
            return false;
        atomic_store_explicit(&guards_kind, GUARDS_PROTECT, memory_order_relaxed);
    }
    return arc_os_protect(addr, size, !closed);
}

void arc_os_random(void *buf, size_t len)
{
    unsigned char *out = buf;
    size_t done = 0;
    while (done < len) {
        /* GRND_NONBLOCK: at early boot the pool may not be ready; the fallback below is
         * better than hanging a program's first malloc. */
        ssize_t n = getrandom(out + done, len - done, GRND_NONBLOCK);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (done == len)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* splitmix64 over the clock, a stack address and this function's address (ASLR). */
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)&ts ^
                 (uint64_t)(uintptr_t)arc_os_random;
    for (; done < len; done += sizeof x) {
        x += SPLITMIX_GAMMA;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * SPLITMIX_MUL1;
        z = (z ^ (z >> 27)) * SPLITMIX_MUL2;
        z ^= z >> 31;
        memcpy(out + done, &z, len - done < sizeof z ? len - done : sizeof z);
    }
}

void arc_os_write(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* rw-r--r--: the mode open(2) gives a file it creates for arc_os_open_write (before the umask). */
#define OPEN_WRITE_MODE (S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH)
_Static_assert(OPEN_WRITE_MODE == 0644, "the profile files keep the mode they always had");

int arc_os_open_write(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, OPEN_WRITE_MODE);
}

void arc_os_close(int fd)
{
    close(fd);
}

int arc_os_open_append(const char *path, bool truncate)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0),
                OPEN_WRITE_MODE);
}

int arc_os_open_read(const char *path)
{
    return open(path, O_RDONLY | O_CLOEXEC);
}

int arc_os_dup(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

bool arc_os_file_id(int fd, arc_os_file_id_t *id)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    *id = (arc_os_file_id_t){.dev = (uint64_t)st.st_dev, .ino = (uint64_t)st.st_ino};
    return true;
}

bool arc_os_on_signal(int sig, void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL) == 0;
}

long arc_os_read(int fd, void *buf, size_t len)
{
    return (long)read(fd, buf, len);
}

_Noreturn void arc_os_abort(void)
{
    abort();
}

uint64_t arc_os_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

bool arc_os_thread_start(void *(*fn)(void *), void *arg, size_t stack_bytes, const char *name)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return false;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, stack_bytes);
    /* The new thread inherits this mask: every signal blocked, so signals sent to the process
     * still reach the program's own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    bool ok = pthread_create(&tid, &attr, fn, arg) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (ok && name)
        pthread_setname_np(tid, name); /* shown by ps -L and top -H; failure changes nothing */
    return ok;
}

bool arc_os_thread_start_safe_anywhere(void)
{
#if defined(__GLIBC__) && __has_include(<sys/single_threaded.h>)
    return __libc_single_threaded; /* glibc 2.32+: false once a thread was ever started */
#elif defined(__GLIBC__)
    return false; /* an older glibc does not say */
#else
    return true;
#endif
}

int arc_os_getpid(void)
{
    return (int)getpid();
}

/* Field `index` of /proc/self/statm (0: the address space's size, 1: resident), in bytes; 0
 * when it cannot be read. */
static size_t statm_bytes(int index)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *s = buf;
    for (int i = 0; i < index; i++) {
        while (*s && *s != ' ')
            s++;
        while (*s == ' ')
            s++;
    }
    size_t pages = 0;
    while (*s >= '0' && *s <= '9')
        pages = pages * 10 + (size_t)(*s++ - '0');
    return pages * (size_t)sysconf(_SC_PAGESIZE); /* the kernel's real page, never a test's */
}

size_t arc_os_resident_bytes(void)
{
    return statm_bytes(1);
}

size_t arc_os_address_room(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY ||
        lim.rlim_cur >= (rlim_t)SIZE_MAX)
        return SIZE_MAX;
    size_t used = statm_bytes(0);
    return (size_t)lim.rlim_cur > used ? (size_t)lim.rlim_cur - used : 0;
}

/* Pages whose residency one mincore call reports: a 4 KiB vector on the stack, 16 MiB of 4 KiB
 * pages a call. */
#define RESIDENT_VECTOR 4096u

bool arc_os_residency(uintptr_t start, size_t len, arc_os_stretch_fn *fn, void *ctx)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE); /* the kernel's real page, never a test's */
    uintptr_t lo = start & ~(uintptr_t)(page - 1);
    uintptr_t hi = (start + len + page - 1) & ~(uintptr_t)(page - 1);
    unsigned char vec[RESIDENT_VECTOR];
    /* The stretch under way: [from, at + i * page). The first starts at `start` and the last
     * ends at start + len: the kernel's pages at the ends may overhang the range; the bounds
     * between stretches, page boundaries above lo and below hi, lie inside it. */
    uintptr_t from = start;
    bool resident = false;
    for (uintptr_t at = lo; at < hi;) {
        size_t pages = (hi - at) / page < RESIDENT_VECTOR ? (hi - at) / page : RESIDENT_VECTOR;
        if (mincore((void *)at, pages * page, vec) != 0)
            return false;
        for (size_t i = 0; i < pages; i++) {
            bool r = vec[i] & 1;
            uintptr_t here = at + i * page;
            if (here == lo)
                resident = r;
            else if (r != resident) {
                if (!fn(ctx, from, here - from, resident))
                    return true;
                from = here;
                resident = r;
            }
        }
        at += pages * page;
    }
    if (len > 0)
        fn(ctx, from, start + len - from, resident);
    return true;
}

/* How long a look at the system's swap space holds: swap switched on since then may hold pages
 * arcalloc took for zeros only if the kernel swapped them out within this time. One look a
 * second costs a sysinfo call a second at most. */
#define SWAP_RECHECK_NS NS_PER_SEC

/* When the swap space was last looked at (arc_os_now_ns, 0: never) and what was seen. */
static _Atomic uint64_t swap_seen_at;
static _Atomic bool swap_seen;

bool arc_os_swap_possible(void)
{
    uint64_t now = arc_os_now_ns(),
             seen_at = atomic_load_explicit(&swap_seen_at, memory_order_acquire);
    if (seen_at != 0 && now - seen_at < SWAP_RECHECK_NS)
        return atomic_load_explicit(&swap_seen, memory_order_relaxed);
    struct sysinfo si;
    bool swap = sysinfo(&si) != 0 || si.totalswap != 0; /* unknown: as if there were */
    atomic_store_explicit(&swap_seen, swap, memory_order_relaxed);
    atomic_store_explicit(&swap_seen_at, now ? now : 1, memory_order_release);
    return swap;
}

static bool count_resident(void *ctx, uintptr_t addr, size_t size, bool resident)
{
    (void)addr;
    if (resident)
        *(size_t *)ctx += size;
    return true;
}

size_t arc_os_resident_in(const void *start, size_t len)
{
    size_t resident = 0;
    return arc_os_residency((uintptr_t)start, len, count_resident, &resident) ? resident : SIZE_MAX;
}

/* getrusage(2) gives ru_maxrss in KiB on Linux. */
#define RUSAGE_UNIT_BYTES 1024

size_t arc_os_peak_resident_bytes(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (size_t)ru.ru_maxrss * RUSAGE_UNIT_BYTES : 0;
}

void arc_os_counts_get(arc_os_counts_t *out)
{
    out->reserve_calls = atomic_load_explicit(&count_reserve, memory_order_relaxed);
    out->map_calls = atomic_load_explicit(&count_map, memory_order_relaxed);
    out->unmap_calls = atomic_load_explicit(&count_unmap, memory_order_relaxed);
    out->decommit_calls = atomic_load_explicit(&count_decommit, memory_order_relaxed);
    out->decommitted_bytes = atomic_load_explicit(&bytes_decommitted, memory_order_relaxed);
    out->move_calls = atomic_load_explicit(&count_move, memory_order_relaxed);
    out->hugepage_calls = atomic_load_explicit(&count_hugepage, memory_order_relaxed);
}

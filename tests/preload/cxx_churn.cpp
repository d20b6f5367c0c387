/* cxx_churn.cpp: the cxx case of run_real.py. Heavy std::string / std::map / std::vector /
 * std::unordered_map churn (also across threads) with checksums, and every operator new/delete
 * form: array, nothrow, sized, aligned (alignas(64), alignas(4096)). Prints only digests and
 * counts that do not depend on addresses, so a run under LD_PRELOAD must print the same. */
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../check.h"

/* The sized forms of operator delete are declared only with sized deallocation on: gcc turns it
 * on for C++14 and later, clang 14 needs -fsized-deallocation (tests/preload/meson.build). */
#ifndef __cpp_sized_deallocation
#error "build with -fsized-deallocation: the sized operator delete forms are part of the test"
#endif

/* Under AddressSanitizer (a sanitizer build of the tests, where nothing is preloaded) impossible
 * requests must give NULL as the C++ standard says, not abort the program. */
#if defined(__SANITIZE_ADDRESS__)
#define ARC_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARC_UNDER_ASAN 1
#endif
#endif
#ifndef ARC_UNDER_ASAN
#define ARC_UNDER_ASAN 0
#endif
#if ARC_UNDER_ASAN
extern "C" const char *__asan_default_options(void);
extern "C" const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif

namespace
{

/* Default work scale: about 1 s under glibc on the 2-core CI machine. */
constexpr unsigned kDefaultScale = 10;
/* Worker threads for the cross-thread part: the machine has 2 cores. */
constexpr unsigned kWorkers = 2;
/* FNV-1a 64-bit offset basis and prime (from the FNV reference). */
constexpr std::uint64_t kFnvBasis = 14695981039346656037ULL;
constexpr std::uint64_t kFnvPrime = 1099511628211ULL;
/* A request no allocator can satisfy: more than the 47-bit user address space of x86-64. */
constexpr std::size_t kImpossibleBytes = std::size_t(1) << 60;
/* The two over-alignments the brief asks for: a cache line and a page. */
constexpr std::size_t kLineAlign = 64;
constexpr std::size_t kPageAlign = 4096;

struct Hash {
    std::uint64_t h = kFnvBasis;
    void bytes(const void *p, std::size_t n)
    {
        const unsigned char *b = static_cast<const unsigned char *>(p);
        for (std::size_t i = 0; i < n; i++) {
            h ^= b[i];
            h *= kFnvPrime;
        }
    }
    void str(const std::string &s)
    {
        bytes(s.data(), s.size());
        num(s.size());
    }
    void num(std::uint64_t v)
    {
        bytes(&v, sizeof v);
    }
};

/* xorshift64*, the same generator as check.h's, kept local so each thread has its own. */
struct Rng {
    std::uint64_t s;
    explicit Rng(std::uint64_t seed) : s(seed)
    {
    }
    std::uint64_t next()
    {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 2685821657736338717ULL;
    }
    std::uint64_t below(std::uint64_t n)
    {
        return next() % n;
    }
};

std::string make_word(Rng &r)
{
    static const char *const syll[] = {"ka", "lo", "mi", "zu", "ter", "an", "qu", "ix", "-"};
    std::string w;
    std::size_t parts = 1 + r.below(12);
    for (std::size_t i = 0; i < parts; i++)
        w += syll[r.below(sizeof syll / sizeof syll[0])];
    if (r.below(8) == 0) { /* past the SSO buffer; two statements fix the draw order */
        std::size_t extra = 200 + r.below(3000);
        w.append(extra, char('a' + r.below(26)));
    }
    return w;
}

/* Spreads k over a pool of size entries deterministically (7919: a prime). */
std::size_t at_index(std::size_t k, std::size_t size)
{
    return (k * 7919) % size;
}

std::uint64_t string_churn(unsigned scale)
{
    Rng r(1);
    std::vector<std::string> pool;
    Hash h;
    for (unsigned i = 0; i < 20000 * scale; i++) {
        std::size_t op = r.below(10);
        if (op < 5 || pool.empty()) {
            pool.push_back(make_word(r));
        } else if (op < 7) {
            std::string &s = pool[r.below(pool.size())];
            s += make_word(r);
            if (s.size() > 5000)
                s = s.substr(s.size() / 3, s.size() / 3);
        } else if (op < 9) {
            std::size_t at = r.below(pool.size());
            std::swap(pool[at], pool.back());
            pool.pop_back();
        } else {
            std::string joined;
            for (std::size_t k = 0; k < 10 && k < pool.size(); k++)
                joined += pool[at_index(k, pool.size())] + '|';
            h.str(joined);
        }
    }
    std::sort(pool.begin(), pool.end());
    for (const std::string &s : pool)
        h.str(s);
    return h.h;
}

std::uint64_t map_churn(unsigned scale)
{
    Rng r(2);
    std::map<std::string, std::vector<int>> tree;
    std::unordered_map<std::uint64_t, std::string> hashed;
    for (unsigned i = 0; i < 15000 * scale; i++) {
        std::string key = "key" + std::to_string(r.below(20000));
        std::size_t op = r.below(10);
        if (op < 5) {
            std::vector<int> &v = tree[key];
            v.resize(v.size() + 1 + r.below(40), int(i));
            std::uint64_t slot = r.below(50000);
            hashed[slot] = key + std::string(r.below(100), 'x');
        } else if (op < 8) {
            tree.erase(key);
            hashed.erase(r.below(50000));
        } else if (op < 9) {
            auto it = tree.lower_bound(key);
            if (it != tree.end()) {
                it->second.shrink_to_fit();
                it->second.insert(it->second.begin(), 3, int(i));
            }
        } else if (hashed.size() > 20000) {
            hashed.clear();
            hashed.rehash(0);
        }
    }
    Hash h;
    for (const auto &kv : tree) {
        h.str(kv.first);
        h.num(kv.second.size());
        h.bytes(kv.second.data(), kv.second.size() * sizeof(int));
    }
    std::vector<std::pair<std::uint64_t, std::string>> flat(hashed.begin(), hashed.end());
    std::sort(flat.begin(), flat.end());
    for (const auto &kv : flat) {
        h.num(kv.first);
        h.str(kv.second);
    }
    return h.h;
}

/* Each worker builds strings and vectors; the main thread frees them after join (remote frees
 * for a per-thread-heap allocator) and also frees some while the workers still run. */
struct Batch {
    std::vector<std::unique_ptr<std::string>> strings;
    std::map<int, std::vector<std::uint64_t>> tables;
};

void worker_fill(Batch *b, unsigned seed, unsigned scale)
{
    Rng r(100 + seed);
    for (unsigned i = 0; i < 8000 * scale; i++) {
        b->strings.push_back(std::make_unique<std::string>(make_word(r)));
        if (b->strings.size() > 4000 && r.below(3) == 0)
            b->strings.erase(b->strings.begin() + long(r.below(b->strings.size())));
        std::vector<std::uint64_t> &t = b->tables[int(r.below(3000))];
        t.push_back(r.next());
        if (t.size() > 64)
            t.clear();
    }
}

std::uint64_t thread_churn(unsigned scale)
{
    std::vector<Batch> batches(kWorkers);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < kWorkers; t++)
        threads.emplace_back(worker_fill, &batches[t], t, scale);
    for (std::thread &t : threads)
        t.join();
    Hash h;
    for (Batch &b : batches) {
        h.num(b.strings.size());
        for (const auto &s : b.strings)
            h.str(*s);
        for (const auto &kv : b.tables) {
            h.num(std::uint64_t(kv.first));
            h.bytes(kv.second.data(), kv.second.size() * sizeof(std::uint64_t));
        }
    }
    batches.clear(); /* every block the workers allocated is freed here, on another thread */
    return h.h;
}

struct alignas(kLineAlign) Line {
    unsigned char bytes[kLineAlign];
};
struct alignas(kPageAlign) Page {
    unsigned char bytes[kPageAlign];
};

/* Makes p escape: compilers may otherwise elide a new/delete pair whose pointer goes nowhere,
 * and then no allocator is called at all (clang does, at -O1 and up). */
void sink(const void *p)
{
    asm volatile("" : : "r"(p) : "memory");
}

bool aligned_to(const void *p, std::size_t align)
{
    return p != nullptr && reinterpret_cast<std::uintptr_t>(p) % align == 0;
}

/* Every operator new/delete form once per round, each block filled and verified. */
void new_forms(unsigned scale)
{
    Rng r(3);
    unsigned bad_contents = 0;
    for (unsigned round = 0; round < 200 * scale; round++) {
        std::size_t n = 1 + r.below(300);
        unsigned char fill = static_cast<unsigned char>(round);

        int *arr = new int[n]; /* array form */
        sink(arr);
        std::fill(arr, arr + n, int(round));
        bad_contents += arr[n - 1] != int(round);
        delete[] arr;

        double *one = new (std::nothrow) double(round); /* nothrow scalar */
        sink(one);
        CHECK(one != nullptr);
        delete one;
        char *nt = new (std::nothrow) char[n]; /* nothrow array */
        sink(nt);
        CHECK(nt != nullptr);
        if (nt) {
            std::memset(nt, fill, n);
            bad_contents += static_cast<unsigned char>(nt[n - 1]) != fill;
        }
        delete[] nt;

        void *raw = ::operator new(n * 8); /* sized delete */
        sink(raw);
        std::memset(raw, fill, n * 8);
        ::operator delete(raw, n * 8);

        Line *line = new Line; /* alignas(64): operator new(size_t, align_val_t) */
        sink(line);
        CHECK(aligned_to(line, kLineAlign));
        std::memset(line->bytes, fill, sizeof line->bytes);
        delete line;
        Line *lines = new Line[n]; /* aligned array */
        sink(lines);
        CHECK(aligned_to(lines, kLineAlign));
        std::memset(static_cast<void *>(lines), fill, n * sizeof(Line));
        bad_contents += lines[n - 1].bytes[kLineAlign - 1] != fill;
        delete[] lines;

        Page *page = new Page; /* alignas(4096) */
        sink(page);
        CHECK(aligned_to(page, kPageAlign));
        std::memset(page->bytes, fill, sizeof page->bytes);
        delete page;
        std::size_t pages = 1 + r.below(6);
        Page *page_arr = new (std::nothrow) Page[pages]; /* nothrow aligned array */
        sink(page_arr);
        CHECK(aligned_to(page_arr, kPageAlign));
        if (page_arr) {
            std::memset(static_cast<void *>(page_arr), fill, pages * sizeof(Page));
            bad_contents += page_arr[pages - 1].bytes[0] != fill;
        }
        delete[] page_arr;

        /* Explicit aligned and sized-aligned operator forms. */
        std::align_val_t al{std::size_t(16) << r.below(9)}; /* 16 .. 4096 */
        void *ap = ::operator new(n, al);
        sink(ap);
        CHECK(aligned_to(ap, std::size_t(al)));
        std::memset(ap, fill, n);
        ::operator delete(ap, n, al);
        void *apn = ::operator new[](n, al, std::nothrow);
        sink(apn);
        CHECK(aligned_to(apn, std::size_t(al)));
        ::operator delete[](apn, al);

        std::vector<Line> vec(n); /* std::allocator<Line> uses aligned new too */
        sink(vec.data());
        CHECK(aligned_to(vec.data(), kLineAlign));
    }
    CHECKF(bad_contents == 0, "%u blocks lost their contents", bad_contents);

    /* Impossible requests: nothrow forms give nullptr, throwing forms throw bad_alloc. */
    volatile std::size_t impossible = kImpossibleBytes; /* not a constant the compiler folds */
    char *huge = new (std::nothrow) char[impossible];
    sink(huge);
    CHECK(huge == nullptr);
    delete[] huge;
    void *huge_aligned = ::operator new(impossible, std::align_val_t(kPageAlign), std::nothrow);
    sink(huge_aligned);
    CHECK(huge_aligned == nullptr);
#if !ARC_UNDER_ASAN /* ASan's throwing operator new aborts instead of throwing */
    bool threw = false;
    try {
        void *p = ::operator new(impossible);
        sink(p);
        ::operator delete(p);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
#endif
}

} // namespace

int main(int argc, char **argv)
{
    unsigned scale = argc > 1 ? unsigned(std::strtoul(argv[1], nullptr, 10)) : kDefaultScale;
    if (scale == 0)
        scale = 1;
    std::printf("strings: %016llx\n", (unsigned long long)string_churn(scale));
    std::printf("maps: %016llx\n", (unsigned long long)map_churn(scale));
    std::printf("threads: %016llx\n", (unsigned long long)thread_churn(scale));
    new_forms(scale);
    return check_done();
}

/* sec_delete.cpp: the C++ case of arcalloc's security matrix (tests/security/matrix.py): a
 * block from operator new given back to the sized operator delete with the wrong size. It owns
 * only that misuse and links nothing but the C++ runtime, so the runner can put any allocator
 * under it with LD_PRELOAD. Same protocol as sec_case.c:
 *
 *   sec_delete SIZE
 *
 * killed by a signal: caught; exit CASE_MISSED (0) with one line on stdout: the delete returned;
 * exit CASE_SETUP: bad arguments. */
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <unistd.h>

/* The sized forms of operator delete are declared only with sized deallocation on (gcc: C++14
 * and later; clang 14: -fsized-deallocation, which tests/security/meson.build passes). */
#ifndef __cpp_sized_deallocation
#error "build with -fsized-deallocation: the sized operator delete is the case"
#endif

/* Exit statuses, as in sec_case.c. */
#define CASE_MISSED 0
#define CASE_SETUP  41

/* The size delete is told is this many times the size allocated: another size class in every
 * allocator, whatever its class spacing. */
#define WRONG_FACTOR 4
/* The largest block size the case accepts. */
#define SIZE_LIMIT (static_cast<unsigned long long>(1) << 20)
/* What the block is filled with before the delete. */
#define FILL_BYTE 0xa5

/* Through a volatile the compiler cannot pair the new with the delete and drop both. */
static void *volatile sink;

[[noreturn]] static void finish(int status, const char *line)
{
    size_t len = strlen(line);
    if (write(STDOUT_FILENO, line, len) == static_cast<ssize_t>(len))
        (void)!write(STDOUT_FILENO, "\n", 1);
    _exit(status);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        finish(CASE_SETUP, "usage: sec_delete SIZE");
    char *end;
    errno = 0;
    unsigned long long size = strtoull(argv[1], &end, 10);
    if (errno != 0 || *end != '\0' || size == 0 || size > SIZE_LIMIT)
        finish(CASE_SETUP, "usage: SIZE is a nonzero byte count of at most 1 MiB");
    sink = ::operator new(size);
    memset(sink, FILL_BYTE, size);
    const unsigned long long wrong = WRONG_FACTOR * size;
    ::operator delete(sink, wrong);
    finish(CASE_MISSED, "missed: sized delete with the wrong size returned");
}

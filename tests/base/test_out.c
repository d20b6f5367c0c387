/* test_out.c: the buffered writer of the statistics report and the heap-profile dump
 * (src/base/out.c). Random sequences of arc_out_* calls (fixed seeds) against the same text built
 * with snprintf, through a file descriptor and through a FILE *, across flushes; a failing stream;
 * no stream. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "out.h"

#define EXPECT_MAX (1 << 20)
static char expect[EXPECT_MAX], got[EXPECT_MAX + 1];
static size_t expect_len;

static void expect_add(const char *s, size_t n)
{
    memcpy(expect + expect_len, s, n);
    expect_len += n;
}

/* One random call on o, mirrored into expect; false when the mirror is full. */
static void step(arc_out_t *o, check_rng_t *r)
{
    char tmp[128];
    int n = 0;
    switch (check_range(r, 0, 5)) {
    case 0: { /* put: any bytes, including NULs */
        size_t len = check_range(r, 0, 100);
        for (size_t i = 0; i < len; i++)
            tmp[i] = (char)check_rand(r);
        arc_out_put(o, tmp, len);
        expect_add(tmp, len);
        return;
    }
    case 1: {
        size_t len = check_range(r, 0, 60);
        for (size_t i = 0; i < len; i++)
            tmp[i] = (char)check_range(r, 'a', 'z');
        tmp[len] = '\0';
        arc_out_str(o, tmp);
        expect_add(tmp, len);
        return;
    }
    case 2: {
        size_t len = check_range(r, 0, 40);
        arc_out_pad(o, len);
        memset(tmp, ' ', len);
        expect_add(tmp, len);
        return;
    }
    case 3: {
        uint64_t v = check_rand(r);
        v >>= check_range(r, 0, 63); /* short numbers too, in a fixed order of draws */
        size_t width = check_range(r, 0, 25);
        arc_out_u64(o, v, width);
        n = snprintf(tmp, sizeof tmp, "%*" PRIu64, (int)width, v);
        break;
    }
    case 4: {
        uintptr_t v = (uintptr_t)check_rand(r);
        v >>= check_range(r, 0, 63);
        arc_out_hex(o, v);
        n = snprintf(tmp, sizeof tmp, "0x%" PRIxPTR, v);
        break;
    }
    default: {
        size_t before = arc_out_count(o);
        arc_out_flush(o);
        CHECK(o->len == 0 && arc_out_count(o) == before);
        return;
    }
    }
    expect_add(tmp, (size_t)n);
}

static void run(int use_file, unsigned long long seed)
{
    FILE *fp = tmpfile();
    CHECK(fp != NULL);
    if (!fp)
        return;
    arc_out_t o;
    if (use_file)
        arc_out_to_file(&o, fp);
    else
        arc_out_to_fd(&o, fileno(fp));
    check_rng_t r = {seed};
    expect_len = 0;
    while (expect_len < EXPECT_MAX - 4096) {
        step(&o, &r);
        if (arc_out_count(&o) != expect_len) {
            CHECKF(0, "count %zu, expected %zu", arc_out_count(&o), expect_len);
            break;
        }
        CHECK(o.len <= ARC_OUT_BUF_BYTES);
    }
    arc_out_flush(&o);
    CHECK(!o.failed);
    fflush(fp);
    rewind(fp);
    lseek(fileno(fp), 0, SEEK_SET);
    size_t n = fread(got, 1, sizeof got, fp);
    CHECKF(n == expect_len, "%zu bytes read, %zu expected", n, expect_len);
    CHECK(memcmp(got, expect, n < expect_len ? n : expect_len) == 0);
    fclose(fp);
}

int main(void)
{
    char buf[ARC_OUT_U64_MAX];
    CHECK(strcmp(arc_out_format_u64(0, buf), "0") == 0);
    CHECK(strcmp(arc_out_format_u64(UINT64_MAX, buf), "18446744073709551615") == 0);
    CHECK(strcmp(arc_out_format_u64(1000000, buf), "1000000") == 0);

    /* Exactly one buffer: no write until the next byte or the flush. */
    FILE *fp = tmpfile();
    arc_out_t o;
    arc_out_to_file(&o, fp);
    char block[ARC_OUT_BUF_BYTES];
    memset(block, 'x', sizeof block);
    arc_out_put(&o, block, sizeof block);
    CHECK(o.len == ARC_OUT_BUF_BYTES && o.flushed == 0 && ftell(fp) == 0);
    arc_out_str(&o, "y");
    CHECK(o.len == 1 && o.flushed == ARC_OUT_BUF_BYTES && arc_out_count(&o) == sizeof block + 1);
    arc_out_flush(&o);
    fflush(fp);
    CHECK(ftell(fp) == (long)sizeof block + 1);
    fclose(fp);

    /* A stream that refuses the bytes sets failed; an empty flush writes nothing. */
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        setvbuf(full, NULL, _IONBF, 0);
        arc_out_to_file(&o, full);
        arc_out_flush(&o);
        CHECK(!o.failed);
        arc_out_str(&o, "lost");
        arc_out_flush(&o);
        CHECK(o.failed);
        fclose(full);
    }
    /* Neither fd nor stream: the bytes are dropped and the writer says so. */
    arc_out_to_file(&o, NULL);
    arc_out_str(&o, "nowhere");
    arc_out_flush(&o);
    CHECK(o.failed && arc_out_count(&o) == 7);

    for (unsigned long long seed = 1; seed <= 4; seed++) {
        run(0, seed * 0x9e3779b97f4a7c15ULL);
        run(1, seed * 0x9e3779b97f4a7c15ULL);
    }
    return check_done();
}

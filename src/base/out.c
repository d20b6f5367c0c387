/* out.c: the buffered writer of reports and profile dumps: formats into the caller's fixed
 * buffer and hands full buffers to arc_os_write or fwrite. It never allocates, never calls
 * printf and holds no state of its own. */
#include "out.h"

#include <string.h>

#include "os.h"

_Static_assert(ARC_OUT_U64_MAX >= sizeof "18446744073709551615",
               "ARC_OUT_U64_MAX holds every digit of UINT64_MAX and the terminating zero");
_Static_assert(ARC_OUT_BUF_BYTES > 0, "a writer needs room for one byte");

/* Spaces written at a time by arc_out_pad. */
static const char spaces[] = "                ";

void arc_out_to_fd(arc_out_t *o, int fd)
{
    o->len = 0;
    o->flushed = 0;
    o->fd = fd;
    o->fp = NULL;
    o->failed = false;
}

void arc_out_to_file(arc_out_t *o, FILE *fp)
{
    arc_out_to_fd(o, -1);
    o->fp = fp;
}

void arc_out_flush(arc_out_t *o)
{
    if (o->len == 0)
        return;
    if (o->fd >= 0)
        arc_os_write(o->fd, o->buf, o->len);
    else if (!o->fp || fwrite(o->buf, 1, o->len, o->fp) != o->len)
        o->failed = true;
    o->flushed += o->len;
    o->len = 0;
}

void arc_out_put(arc_out_t *o, const char *s, size_t n)
{
    while (n > 0) {
        if (o->len == ARC_OUT_BUF_BYTES)
            arc_out_flush(o);
        size_t room = ARC_OUT_BUF_BYTES - o->len, take = n < room ? n : room;
        memcpy(o->buf + o->len, s, take);
        o->len += take;
        s += take;
        n -= take;
    }
}

void arc_out_str(arc_out_t *o, const char *s)
{
    arc_out_put(o, s, strlen(s));
}

void arc_out_pad(arc_out_t *o, size_t n)
{
    while (n > 0) {
        size_t take = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        arc_out_put(o, spaces, take);
        n -= take;
    }
}

const char *arc_out_format_u64(uint64_t v, char buf[ARC_OUT_U64_MAX])
{
    char *d = buf + ARC_OUT_U64_MAX - 1;
    *d = '\0';
    do {
        *--d = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return d;
}

void arc_out_u64(arc_out_t *o, uint64_t v, size_t width)
{
    char buf[ARC_OUT_U64_MAX];
    const char *d = arc_out_format_u64(v, buf);
    size_t n = (size_t)(buf + ARC_OUT_U64_MAX - 1 - d);
    if (n < width)
        arc_out_pad(o, width - n);
    arc_out_put(o, d, n);
}

void arc_out_hex(arc_out_t *o, uintptr_t v)
{
    char buf[ARC_HEX_MAX];
    arc_out_str(o, arc_format_hex(v, buf));
}

size_t arc_out_count(const arc_out_t *o)
{
    return o->flushed + o->len;
}

const char *arc_format_hex(uintptr_t v, char buf[ARC_HEX_MAX])
{
    size_t n = ARC_HEX_MAX - 1;
    buf[n] = '\0';
    do {
        buf[--n] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    buf[--n] = 'x';
    buf[--n] = '0';
    return buf + n;
}

size_t arc_text_append(char *buf, size_t cap, size_t at, const char *s)
{
    while (*s && at + 1 < cap)
        buf[at++] = *s++;
    buf[at] = '\0';
    return at;
}

bool arc_out_path_expand(const char *pattern, char *path, size_t cap, bool *per_process)
{
    size_t n = 0;
    if (per_process)
        *per_process = false;
    for (const char *p = pattern; *p; p++) {
        char digits[ARC_OUT_U64_MAX];
        const char *piece = p, *end = p + 1;
        if (p[0] == '%' && p[1] == 'p') {
            piece = arc_out_format_u64((uint64_t)arc_os_getpid(), digits);
            end = piece + strlen(piece);
            if (per_process)
                *per_process = true;
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            p++;
        }
        size_t len = (size_t)(end - piece);
        if (n + len >= cap)
            return false;
        memcpy(path + n, piece, len);
        n += len;
    }
    path[n] = '\0';
    return true;
}

/* out.h: formatted output into a fixed buffer, flushed to a file descriptor (raw writes through
 * arc_os_write) or to a caller's FILE *: what the statistics report and the heap-profile dump
 * write with. It never allocates and never calls printf: it runs while the heap is measured. */
#ifndef ARC_OUT_H
#define ARC_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Bytes formatted before each write: a statistics report is a few KiB (docs/stats.md promises
 * "a 4 KiB stack buffer"), so a few writes at most. */
#define ARC_OUT_BUF_BYTES 4096
/* Room for the 20 decimal digits of UINT64_MAX and the terminating zero. */
#define ARC_OUT_U64_MAX 21

/* A writer lives on its user's stack; arc_out_to_fd or arc_out_to_file sets every field. */
typedef struct arc_out {
    char buf[ARC_OUT_BUF_BYTES];
    size_t len;     /* bytes in buf, not written yet */
    size_t flushed; /* bytes written before them (arc_out_count) */
    int fd;         /* >= 0: raw writes */
    FILE *fp;       /* else the caller's stream */
    bool failed;    /* a write to fp failed (raw writes report nothing) */
} arc_out_t;

/* Starts a writer on fd (raw write(2) calls), or on the caller's stream. */
void arc_out_to_fd(arc_out_t *o, int fd);
void arc_out_to_file(arc_out_t *o, FILE *fp);
/* Appends n bytes of s, or the string s, or n spaces. A full buffer is flushed first. */
void arc_out_put(arc_out_t *o, const char *s, size_t n);
void arc_out_str(arc_out_t *o, const char *s);
void arc_out_pad(arc_out_t *o, size_t n);
/* v in decimal, right-aligned in `width` columns (0: as is). */
void arc_out_u64(arc_out_t *o, uint64_t v, size_t width);
/* v as "0x..." (lower case, no leading zeros: arc_format_hex). */
void arc_out_hex(arc_out_t *o, uintptr_t v);
/* Bytes appended since the writer started, flushed or not: columns are measured with it. */
size_t arc_out_count(const arc_out_t *o);
/* Writes what the buffer holds. The caller flushes before it closes fd or reads fp. */
void arc_out_flush(arc_out_t *o);

/* Room for "0x", 16 hex digits and the terminating zero. */
#define ARC_HEX_MAX 19
/* Formats v as "0x..." (lower case, no leading zeros) inside buf; returns where it starts. For
 * every message built without allocating (reports, profile dumps). */
const char *arc_format_hex(uintptr_t v, char buf[ARC_HEX_MAX]);

/* Appends the string s to buf at `at`, as much as fits in cap bytes with the terminating zero
 * (always written); returns the new length. For lines and names built without a writer. */
size_t arc_text_append(char *buf, size_t cap, size_t at, const char *s);
/* Expands a file pattern into path: "%p" becomes the process id, "%%" a '%'. False when the
 * result does not fit in cap bytes; *per_process (when not NULL) says whether "%p" was used. */
bool arc_out_path_expand(const char *pattern, char *path, size_t cap, bool *per_process);

/* Formats v in decimal inside buf; returns where the digits start (for paths and messages
 * built without a writer). */
const char *arc_out_format_u64(uint64_t v, char buf[ARC_OUT_U64_MAX]);

#endif

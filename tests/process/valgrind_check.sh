#!/bin/sh
# valgrind_check.sh LIB CC WORKDIR: memcheck understands arcalloc's blocks. A program running on
# arcalloc (LD_PRELOAD) with a real leak and a real use-after-free must get both reported by
# memcheck, with the right sizes; a clean program must get no error. memcheck replaces every
# malloc it finds unless told to keep the program's own: --soname-synonyms=somalloc=nouserintercepts.
set -u
lib=$1
cc=$2
work=$3
mkdir -p "$work"
command -v valgrind >/dev/null || { echo "valgrind is missing (Debian package valgrind)"; exit 1; }
cat >"$work/faulty.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static char *volatile keep;
int main(void)
{
    /* Proof that the blocks are arcalloc's, not memcheck's own malloc's. */
    bool (*owns)(const void *) = (bool (*)(const void *))dlsym(RTLD_DEFAULT, "arc_owns");
    char *probe = malloc(10);
    printf("arcalloc owns blocks: %d\n", owns && owns(probe));
    free(probe);
    char *leak = malloc(100); /* never freed: definitely lost */
    memset(leak, 1, 100);
    leak = NULL;
    char *p = malloc(64);
    memset(p, 2, 64);
    free(p);
    keep = p;
    int c = keep[10]; /* use after free */
    char *big = malloc(300000); /* a large block, freed: no error */
    memset(big, 3, 300000);
    free(big);
    printf("%d\n", c > 255);
    return 0;
}
C
cat >"$work/clean.c" <<'C'
#include <stdlib.h>
#include <string.h>
int main(void)
{
    void *v[1000];
    for (int i = 0; i < 1000; i++) {
        v[i] = malloc((size_t)(16 + i * 37 % 4000));
        memset(v[i], i, 16);
    }
    for (int i = 0; i < 1000; i++)
        free(v[i]);
    char *s = NULL;
    for (int n = 1; n < 1 << 20; n *= 2) {
        s = realloc(s, (size_t)n);
        s[n - 1] = 1;
    }
    free(s);
    return 0;
}
C
$cc -O0 -g "$work/faulty.c" -o "$work/faulty" -ldl && $cc -O0 -g "$work/clean.c" -o "$work/clean" || exit 1
status=0
LD_PRELOAD=$lib valgrind --soname-synonyms=somalloc=nouserintercepts --leak-check=full --error-exitcode=99 "$work/faulty" >"$work/faulty.out" 2>"$work/faulty.err"
rc=$?
grep -q "arcalloc owns blocks: 1" "$work/faulty.out" || { echo "the program did not run on arcalloc"; status=1; }
grep -q "Invalid read of size 1" "$work/faulty.err" || { echo "memcheck missed the use after free"; status=1; }
grep -q "inside a block of size 64 free'd" "$work/faulty.err" || { echo "memcheck did not name the freed 64-byte block"; status=1; }
grep -Eq "definitely lost: 100 bytes in 1 blocks" "$work/faulty.err" || { echo "memcheck missed the 100-byte leak"; status=1; }
[ $rc = 99 ] || { echo "memcheck exit status $rc, wanted 99"; status=1; }
LD_PRELOAD=$lib valgrind --soname-synonyms=somalloc=nouserintercepts --leak-check=full --error-exitcode=99 "$work/clean" >"$work/clean.out" 2>"$work/clean.err"
rc=$?
[ $rc = 0 ] || { echo "memcheck reported errors on a clean program (status $rc)"; tail -30 "$work/clean.err"; status=1; }
grep -q "ERROR SUMMARY: 0 errors" "$work/clean.err" || { echo "clean program: errors reported"; status=1; }
if [ $status != 0 ]; then tail -40 "$work/faulty.err"; fi
[ $status = 0 ] && echo "memcheck saw the leak and the use after free; the clean program is clean"
exit $status

#!/bin/sh
# install_check.sh BUILDDIR WORKDIR CC [static]: `meson install` into a staging prefix puts the
# library (shared and static), arcalloc.h, arcalloc.pc, the man pages and the `arcalloc` command
# in place; a program built by CC (the build's C compiler) with `pkg-config --cflags --libs
# arcalloc` allocates from arcalloc; with `static`, so does the same program linked `CC -static`
# with `pkg-config --static --libs arcalloc`; the installed command preloads the installed
# library. A cross build's programs run under ARC_TEST_WRAPPER.
set -eu
build=$1
work=$2
cc=$3
static=${4:-}
rm -rf "$work"
mkdir -p "$work"
meson install -C "$build" --no-rebuild --destdir "$work/stage" >"$work/install.log" 2>&1
prefix=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
root="$work/stage$prefix"
pc=$(find "$root" -name arcalloc.pc | head -1)
test -n "$pc" || { echo "arcalloc.pc not installed"; exit 1; }
test -n "$(find "$root" -name arcalloc.h)" || { echo "arcalloc.h not installed"; exit 1; }
test -n "$(find "$root" -name arcalloc_config.h)" || { echo "arcalloc_config.h not installed"; exit 1; }
test -n "$(find "$root" -name 'arcalloc.3*')" || { echo "man page not installed"; exit 1; }
test -n "$(find "$root" -name 'arcalloc.1*')" || { echo "arcalloc(1) not installed"; exit 1; }
cmd=$(find "$root" -path '*/bin/arcalloc' | head -1)
test -x "$cmd" || { echo "the arcalloc command is not installed in bindir"; exit 1; }
# The installed command names the installed library: present once the stage is the prefix.
lib=$(sed -n 's/^LIBRARY = "\(.*\)".*/\1/p' "$cmd")
test -e "$work/stage$lib" || { echo "arcalloc command preloads $lib, not installed"; exit 1; }
# Running it needs a machine program the library can be preloaded into (not with musl or a
# cross build: ARC_PRELOAD_SYSTEM=0).
if [ "${ARC_PRELOAD_SYSTEM:-1}" = 1 ]; then
    "$cmd" run --library "$work/stage$lib" --no-report -o "$work/run" -- /bin/ls / >/dev/null
    test -n "$(find "$work/run" -name 'stats.*.json')" || { echo "installed command: no report"; exit 1; }
else
    echo "install_check: the installed command is not run (its library cannot be preloaded into this machine's programs)"
fi
libdir=$(dirname "$(find "$root" -name 'libarcalloc.so' | head -1)")
test -f "$libdir/libarcalloc.a" || { echo "libarcalloc.a not installed beside libarcalloc.so"; exit 1; }
cat >"$work/prog.c" <<'C'
#include <arcalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void)
{
    char *s = malloc(32), *t = strdup("linked with arcalloc");
    void *big = calloc(1, 1 << 20);
    int ok = arc_owns(s) && arc_owns(t) && arc_owns(big);
    printf("%s: %s\n", t, ok ? "yes" : "no");
    free(s);
    free(t);
    free(big);
    return ok ? 0 : 1;
}
C
# pkg-config answers for the staged prefix: point it there.
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$root" --cflags --libs arcalloc)
"$cc" "$work/prog.c" $flags -o "$work/prog"
LD_LIBRARY_PATH="$libdir" ${ARC_TEST_WRAPPER:-} "$work/prog"
if [ "$static" = static ]; then
    flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$root" --static --cflags --libs arcalloc)
    "$cc" -static "$work/prog.c" $flags -o "$work/prog-static"
    ${ARC_TEST_WRAPPER:-} "$work/prog-static"
fi

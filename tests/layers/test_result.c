/* test_result.c: every result code has its own name, and unknown codes are named as such. */
#include <string.h>

#include "arcalloc.h"
#include "check.h"

int main(void)
{
    const int codes[] = {ARC_OK, ARC_INVALID_PARAM, ARC_MEMORY_OVERLAP, ARC_NO_MEMORY,
                         ARC_NOT_ALLOCATED};
    const size_t n = sizeof codes / sizeof codes[0];
    CHECK(ARC_OK == 0);
    for (size_t i = 0; i < n; i++) {
        const char *s = arc_result_str(codes[i]);
        CHECK(s != NULL && s[0] != '\0');
        CHECK(strcmp(s, arc_result_str(-1)) != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(s, arc_result_str(codes[j])) != 0);
    }
    CHECK(strcmp(arc_result_str(ARC_NO_MEMORY), "no memory") == 0);
    CHECK(strcmp(arc_result_str(12345), "unknown result") == 0);
    return check_done();
}

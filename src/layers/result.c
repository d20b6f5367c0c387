/* result.c: names for the layer result codes. Owns nothing else; never allocates. */
#include "arcalloc.h"

const char *arc_result_str(int result)
{
    switch (result) {
    case ARC_OK:
        return "ok";
    case ARC_INVALID_PARAM:
        return "invalid parameter";
    case ARC_MEMORY_OVERLAP:
        return "memory overlap";
    case ARC_NO_MEMORY:
        return "no memory";
    case ARC_NOT_ALLOCATED:
        return "not allocated";
    default:
        return "unknown result";
    }
}

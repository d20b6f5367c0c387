/* byte_ops.c: the table of byte-allocator backends, looked up by name, and the dispatch of their
 * optional members (set_key). Owns no state. */
#include <string.h>

#include "arcalloc.h"

static const arc_byte_ops_t *const byte_backends[] = {&arc_tlsf_ops, &arc_buddy_ops, &arc_slab_ops};

const arc_byte_ops_t *arc_byte_ops_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof byte_backends / sizeof byte_backends[0]; i++)
        if (strcmp(byte_backends[i]->name, name) == 0)
            return byte_backends[i];
    return NULL;
}

/* set_key is NULL in normal builds (no header checks compiled in): then this does nothing. */
void arc_byte_set_key(const arc_byte_ops_t *ops, arc_byte_allocator_t *state, uint64_t key)
{
    if (ops && state && ops->set_key)
        ops->set_key(state, key);
}

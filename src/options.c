/* options.c: reads ARCALLOC_* settings from environ. Owns the choice of default backend; never
 * allocates, never calls getenv. */
#include "options.h"

#include <string.h>

#include "report.h"

extern char **environ;

const char *arc_env_get(const char *name)
{
    size_t len = strlen(name);
    char **env = environ;
    if (!env)
        return NULL;
    for (; *env; env++)
        if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
            return *env + len + 1;
    return NULL;
}

void arc_options_load(void)
{
}

const char *arc_option_str(arc_option_id_t id)
{
    (void)id;
    return NULL;
}

long long arc_option_int(arc_option_id_t id)
{
    (void)id;
    return 0;
}

const arc_byte_ops_t *arc_options_backend(void)
{
    const arc_byte_ops_t *build_default = arc_byte_ops_find(ARC_DEFAULT_BACKEND);
    const char *name = arc_env_get("ARCALLOC_BACKEND");
    if (!name || !*name)
        return build_default;
    const arc_byte_ops_t *ops = arc_byte_ops_find(name);
    if (!ops)
        arc_report_warning("unknown ARCALLOC_BACKEND value (accepted: tlsf, buddy, slab); using "
                           "the build default ",
                           ARC_DEFAULT_BACKEND);
    return ops ? ops : build_default;
}

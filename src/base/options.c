/* options.c: the one table of arcalloc's options and the reading of their values from environ
 * (defaults, the build's byte_allocator, ARCALLOC_CONF, then each ARCALLOC_* variable). Values
 * live in static storage; it never allocates, never calls getenv, never acts on an option. */
#include "options.h"

#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "os.h"
#include "report.h"

extern char **environ;

/* Longest value kept (a path, mostly); a longer one is a bad value. */
#define OPTION_TEXT_MAX 512
/* One warning or verbose line, kept under report.c's own line limit (256). */
#define OPTION_LINE_MAX 240
/* Longest variable name or CONF key quoted back in a warning. */
#define OPTION_QUOTE_MAX 48
/* Every variable of the family starts with this; ARCALLOC_CONF holds the compact form. */
#define ENV_PREFIX     "ARCALLOC_"
#define ENV_PREFIX_LEN (sizeof ENV_PREFIX - 1)
#define ENV_CONF       "ARCALLOC_CONF"

typedef enum option_type {
    OPT_BOOL,
    OPT_SIZE,
    OPT_TIME,
    OPT_STRING,
    OPT_ENUM,
    OPT_SIGNAL
} option_type_t;

typedef struct option_choice {
    const char *name;
    long long value;
} option_choice_t;

typedef struct option_def {
    const char *key; /* ARCALLOC_CONF key */
    const char *env; /* its own variable */
    option_type_t type;
    const char *def;                /* default, parsed like any value; NULL: unset */
    const option_choice_t *choices; /* OPT_ENUM: accepted names, NULL-terminated */
    const char *accepted;           /* what a warning lists */
    const char *help;
} option_def_t;

static const option_choice_t backend_choices[] = {
    {"tlsf", 0}, {"buddy", 1}, {"slab", 2}, {NULL, 0}};
static const option_choice_t stats_choices[] = {{"0", ARC_STATS_MODE_OFF},
                                                {"1", ARC_STATS_MODE_TEXT},
                                                {"text", ARC_STATS_MODE_TEXT},
                                                {"json", ARC_STATS_MODE_JSON},
                                                {NULL, 0}};
static const option_choice_t bool_choices[] = {{"0", 0},    {"1", 1},  {"false", 0},
                                               {"true", 1}, {"no", 0}, {"yes", 1},
                                               {"off", 0},  {"on", 1}, {NULL, 0}};
static const option_choice_t hugepages_choices[] = {
    {"auto", ARC_HUGEPAGES_AUTO}, {"0", ARC_HUGEPAGES_OFF}, {"1", ARC_HUGEPAGES_ON},
    {"off", ARC_HUGEPAGES_OFF},   {"on", ARC_HUGEPAGES_ON}, {NULL, 0}};
static const option_choice_t guards_choices[] = {
    {"mprotect", ARC_GUARDS_MPROTECT}, {"markers", ARC_GUARDS_MARKERS}, {NULL, 0}};
/* Signals a dump may be tied to: the asynchronous ones. Faults (SEGV, BUS, FPE, ILL, ABRT, TRAP)
 * and KILL/STOP are left out: they cannot be caught or must not be. */
static const option_choice_t signal_choices[] = {
    {"0", 0},          {"none", 0},           {"HUP", SIGHUP},   {"INT", SIGINT},
    {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},     {"USR2", SIGUSR2}, {"ALRM", SIGALRM},
    {"TERM", SIGTERM}, {"CHLD", SIGCHLD},     {"CONT", SIGCONT}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},     {"PWR", SIGPWR},       {"SYS", SIGSYS},   {NULL, 0}};

/* A secure build starts in secure mode; ARCALLOC_SECURE=0 turns it off. */
#if ARC_SECURE
#define SECURE_DEFAULT "1"
#else
#define SECURE_DEFAULT "0"
#endif

/* The table: one row per option, in arc_option_id_t order. */
static const option_def_t option_table[ARC_OPT_COUNT] = {
    [ARC_OPT_BACKEND] = {"backend", "ARCALLOC_BACKEND", OPT_ENUM, ARC_DEFAULT_BACKEND,
                         backend_choices, "tlsf, buddy, slab",
                         "byte allocator of thread heaps (build option byte_allocator)"},
    [ARC_OPT_STATS] = {"stats", "ARCALLOC_STATS", OPT_ENUM, "0", stats_choices, "0, 1, text, json",
                       "statistics report at exit: 1/text or json"},
    [ARC_OPT_STATS_FILE] = {"stats_file", "ARCALLOC_STATS_FILE", OPT_STRING, NULL, NULL,
                            "a path; %p becomes the process id",
                            "file the report goes to instead of stderr"},
    [ARC_OPT_STATS_SIGNAL] = {"stats_signal", "ARCALLOC_STATS_SIGNAL", OPT_SIGNAL, NULL,
                              signal_choices, "a signal name: USR1, USR2, HUP, ... or 0",
                              "signal that dumps the report (and the heap profile) at once"},
    [ARC_OPT_STATS_INTERVAL] = {"stats_interval", "ARCALLOC_STATS_INTERVAL", OPT_TIME, "0", NULL,
                                "a time: 100ms, 1s (a bare number is milliseconds); 0: none",
                                "append a line of figures to the timeline file this often"},
    [ARC_OPT_TIMELINE_FILE] = {"timeline_file", "ARCALLOC_TIMELINE_FILE", OPT_STRING,
                               "arcalloc-timeline.%p.jsonl", NULL,
                               "a path; %p becomes the process id",
                               "file the timeline (ARCALLOC_STATS_INTERVAL) goes to"},
    [ARC_OPT_PROF] = {"prof", "ARCALLOC_PROF", OPT_BOOL, "0", bool_choices, "0, 1",
                      "heap profiling (builds with libunwind)"},
    [ARC_OPT_PROF_SAMPLE] = {"prof_sample", "ARCALLOC_PROF_SAMPLE", OPT_SIZE, "512k", NULL,
                             "a size in bytes, with k, m or g",
                             "mean bytes allocated between two profile samples"},
    [ARC_OPT_PROF_FILE] = {"prof_file", "ARCALLOC_PROF_FILE", OPT_STRING, "arcalloc-prof.%p.folded",
                           NULL, "a path; %p becomes the process id",
                           "heap profile at exit (folded stacks)"},
    [ARC_OPT_VERBOSE] = {"verbose", "ARCALLOC_VERBOSE", OPT_BOOL, "0", bool_choices, "0, 1",
                         "print the effective configuration at start-up"},
    [ARC_OPT_DECAY] = {"decay", "ARCALLOC_DECAY", OPT_TIME, "1s", NULL,
                       "a time: 250ms, 1s, 10s (a bare number is milliseconds); 0: none",
                       "how long a freed page run stays committed for reuse before it goes back "
                       "to the OS"},
    [ARC_OPT_PURGE_THREAD] = {"purge_thread", "ARCALLOC_PURGE_THREAD", OPT_BOOL, "1", bool_choices,
                              "0, 1",
                              "a background thread gives decayed runs back while the program is "
                              "idle (0: only on allocator calls)"},
    [ARC_OPT_SECURE] = {"secure", "ARCALLOC_SECURE", OPT_BOOL, SECURE_DEFAULT, bool_choices, "0, 1",
                        "hardened mode: encoded free lists, guard pages, random reuse "
                        "(builds with -Dsecure=true)"},
    [ARC_OPT_HUGEPAGES] = {"hugepages", "ARCALLOC_HUGEPAGES", OPT_ENUM, "auto", hugepages_choices,
                           "auto, 0, 1",
                           "transparent huge pages for segments and large blocks where the kernel "
                           "allows them: auto (once 4 MiB are in use), 1 (at once) or 0 (never)"},
    [ARC_OPT_GUARDS] = {"guards", "ARCALLOC_GUARDS", OPT_ENUM, "mprotect", guards_choices,
                        "mprotect, markers",
                        "secure mode's guard pages: mprotect (PROT_NONE mappings) or markers "
                        "(page-table guard markers where the kernel has them, Linux 6.13: no "
                        "write lock on the address space, for many threads taking large blocks)"},
};

/* Options that ask for something a build may leave out: asked for (set by the user to a value
 * other than 0) in a build without it, each gets one warning line saying so. */
typedef struct option_need {
    arc_option_id_t id;
    bool built;       /* the build has what the option needs */
    const char *what; /* the rest of the warning line */
} option_need_t;

static const option_need_t option_needs[] = {
    {ARC_OPT_PROF, ARC_PROF,
     " asks for heap profiling, which this build leaves out (meson found no libunwind: apt-get "
     "install libunwind-dev, then meson setup --reconfigure); no profile is written"},
    {ARC_OPT_STATS, ARC_STATS,
     ": this build has no statistics counters (-Dstats=false): the report's counters, allocs, "
     "frees and peak read 0"},
    {ARC_OPT_STATS_INTERVAL, ARC_STATS,
     ": this build has no statistics counters (-Dstats=false): the timeline's allocs, frees and "
     "peak read 0, its live bytes are estimated"},
};

static const char *const source_names[] = {
    [ARC_SRC_UNSET] = "unset",        [ARC_SRC_DEFAULT] = "default",
    [ARC_SRC_BUILD] = "build option", [ARC_SRC_CONF] = "ARCALLOC_CONF",
    [ARC_SRC_ENV] = "environment",
};

typedef struct option_value {
    char text[OPTION_TEXT_MAX];
    long long num;
    arc_option_source_t source;
} option_value_t;

static option_value_t option_values[ARC_OPT_COUNT];
static bool options_loaded;

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

/* ---- a line on the stack ------------------------------------------------------------------ */

typedef struct line {
    char buf[OPTION_LINE_MAX + 1];
    size_t len;
} line_t;

static void line_put(line_t *l, const char *s, size_t n)
{
    if (n > OPTION_LINE_MAX - l->len)
        n = OPTION_LINE_MAX - l->len;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    l->buf[l->len] = '\0';
}

static void line_puts(line_t *l, const char *s)
{
    line_put(l, s, strlen(s));
}

/* Quotes at most OPTION_QUOTE_MAX characters of s[0..n). */
static void line_quote(line_t *l, const char *s, size_t n)
{
    line_puts(l, "\"");
    line_put(l, s, n > OPTION_QUOTE_MAX ? OPTION_QUOTE_MAX : n);
    line_puts(l, n > OPTION_QUOTE_MAX ? "...\"" : "\"");
}

/* ---- parsing ------------------------------------------------------------------------------ */

static bool text_equal(const char *a, size_t n, const char *b)
{
    return strlen(b) == n && strncmp(a, b, n) == 0;
}

static bool text_equal_nocase(const char *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char x = a[i] >= 'a' && a[i] <= 'z' ? (char)(a[i] - 'a' + 'A') : a[i];
        char y = b[i] >= 'a' && b[i] <= 'z' ? (char)(b[i] - 'a' + 'A') : b[i];
        if (x != y)
            return false;
    }
    return true;
}

/* "64k", "1m", "4096", "2G": bytes, at least 1. */
static bool size_parse(const char *s, size_t n, long long *out)
{
    unsigned long long v = 0;
    size_t i = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (unsigned long long)(INT64_MAX / 10))
            return false;
        v = v * 10 + (unsigned long long)(s[i] - '0');
    }
    if (i == 0)
        return false;
    unsigned shift = 0;
    if (i + 1 == n) {
        switch (s[i]) {
        case 'k':
        case 'K':
            shift = 10;
            break;
        case 'm':
        case 'M':
            shift = 20;
            break;
        case 'g':
        case 'G':
            shift = 30;
            break;
        default:
            return false;
        }
    } else if (i != n) {
        return false;
    }
    if (v == 0 || v > ((unsigned long long)INT64_MAX >> shift))
        return false;
    *out = (long long)(v << shift);
    return true;
}

/* Milliseconds in one unit of a time value: "ms" or "s"; a bare number is milliseconds. */
#define MS_PER_SEC 1000

/* "250ms", "1s", "0", "1500": milliseconds, 0 allowed (none). At most a day: a decay longer than
 * that is a typo. */
#define TIME_MAX_MS (24LL * 3600 * MS_PER_SEC)
static bool time_parse(const char *s, size_t n, long long *out)
{
    long long v = 0;
    size_t i = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (s[i] - '0');
        if (v > TIME_MAX_MS)
            return false;
    }
    if (i == 0)
        return false;
    if (text_equal(s + i, n - i, "s"))
        v *= MS_PER_SEC;
    else if (i != n && !text_equal(s + i, n - i, "ms"))
        return false;
    if (v > TIME_MAX_MS)
        return false;
    *out = v;
    return true;
}

/* Parses s[0..n) for option d: the number and, for named values, the canonical name. */
static bool value_parse(const option_def_t *d, const char *s, size_t n, long long *num,
                        const char **name)
{
    *name = NULL;
    switch (d->type) {
    case OPT_SIZE:
        return size_parse(s, n, num);
    case OPT_TIME:
        return time_parse(s, n, num);
    case OPT_STRING:
        *num = 0;
        return n > 0;
    case OPT_BOOL:
    case OPT_ENUM:
        for (const option_choice_t *c = d->choices; c->name; c++) {
            if (text_equal(s, n, c->name)) {
                *num = c->value;
                *name = d->type == OPT_BOOL ? (c->value ? "1" : "0") : c->name;
                return true;
            }
        }
        return false;
    case OPT_SIGNAL:
        if (n > 3 && text_equal_nocase(s, 3, "SIG")) {
            s += 3;
            n -= 3;
        }
        for (const option_choice_t *c = d->choices; c->name; c++) {
            if (text_equal_nocase(s, n, c->name)) {
                *num = c->value;
                *name = c->value ? c->name : "0";
                return true;
            }
        }
        return false;
    }
    return false;
}

static void option_warn_bad(arc_option_id_t id, const char *where, const char *s, size_t n)
{
    const option_def_t *d = &option_table[id];
    const option_value_t *v = &option_values[id];
    line_t l = {.len = 0};
    line_puts(&l, where);
    line_puts(&l, ": bad value ");
    line_quote(&l, s, n);
    if (n >= OPTION_TEXT_MAX)
        line_puts(&l, " (too long)");
    line_puts(&l, " (accepted: ");
    line_puts(&l, d->accepted);
    line_puts(&l, "); keeping ");
    line_puts(&l, v->source == ARC_SRC_UNSET ? "it unset" : v->text);
    arc_report_warning(l.buf, NULL);
}

/* Sets option id from s[0..n) coming from `source`; a bad value warns (naming `where`) and
 * keeps what the option had. */
static void option_set(arc_option_id_t id, const char *s, size_t n, arc_option_source_t source,
                       const char *where)
{
    long long num = 0;
    const char *name = NULL;
    if (n >= OPTION_TEXT_MAX || !value_parse(&option_table[id], s, n, &num, &name)) {
        option_warn_bad(id, where, s, n);
        return;
    }
    option_value_t *v = &option_values[id];
    if (name) {
        s = name;
        n = strlen(name);
    }
    memcpy(v->text, s, n);
    v->text[n] = '\0';
    v->num = num;
    v->source = source;
}

static int option_find_key(const char *key, size_t n)
{
    for (int i = 0; i < ARC_OPT_COUNT; i++)
        if (text_equal(key, n, option_table[i].key))
            return i;
    return -1;
}

static int option_find_env(const char *name, size_t n)
{
    for (int i = 0; i < ARC_OPT_COUNT; i++)
        if (text_equal(name, n, option_table[i].env))
            return i;
    return -1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* ARCALLOC_CONF=key:value,key:value (key=value is accepted too; blanks around either are
 * ignored, and so are empty entries). */
static void conf_parse(const char *conf)
{
    while (*conf) {
        while (is_blank(*conf))
            conf++;
        const char *end = conf;
        while (*end && *end != ',')
            end++;
        const char *next = *end ? end + 1 : end;
        while (end > conf && is_blank(end[-1]))
            end--;
        const char *sep = conf;
        while (sep < end && *sep != ':' && *sep != '=')
            sep++;
        const char *key_end = sep, *value = sep < end ? sep + 1 : end;
        while (key_end > conf && is_blank(key_end[-1]))
            key_end--;
        while (value < end && is_blank(*value))
            value++;
        size_t key_len = (size_t)(key_end - conf);
        if (end > conf) {
            int id = sep < end ? option_find_key(conf, key_len) : -1;
            if (id >= 0) {
                char where[sizeof ENV_CONF + 1 + OPTION_QUOTE_MAX + 1];
                memcpy(where, ENV_CONF " ", sizeof ENV_CONF);
                memcpy(where + sizeof ENV_CONF, conf, key_len);
                where[sizeof ENV_CONF + key_len] = '\0';
                option_set((arc_option_id_t)id, value, (size_t)(end - value), ARC_SRC_CONF, where);
            } else {
                line_t l = {.len = 0};
                line_puts(&l, ENV_CONF ": ");
                line_puts(&l, sep < end ? "unknown key " : "not key:value: ");
                line_quote(&l, conf, sep < end ? key_len : (size_t)(end - conf));
                line_puts(&l, " (accepted keys:");
                for (int i = 0; i < ARC_OPT_COUNT; i++) {
                    line_puts(&l, i ? ", " : " ");
                    line_puts(&l, option_table[i].key);
                }
                line_puts(&l, ")");
                arc_report_warning(l.buf, NULL);
            }
        }
        conf = next;
    }
}

/* Every ARCALLOC_* variable the table does not know gets one warning. */
static void env_check_unknown(void)
{
    char **env = environ;
    if (!env)
        return;
    for (; *env; env++) {
        const char *var = *env;
        if (strncmp(var, ENV_PREFIX, ENV_PREFIX_LEN) != 0)
            continue;
        size_t n = strcspn(var, "=");
        if (text_equal(var, n, ENV_CONF) || option_find_env(var, n) >= 0)
            continue;
        line_t l = {.len = 0};
        line_puts(&l, "unknown variable ");
        line_put(&l, var, n > OPTION_QUOTE_MAX ? OPTION_QUOTE_MAX : n);
        line_puts(&l, " (accepted: " ENV_CONF);
        for (int i = 0; i < ARC_OPT_COUNT; i++) {
            line_puts(&l, ", ");
            line_puts(&l, option_table[i].env);
        }
        line_puts(&l, ")");
        arc_report_warning(l.buf, NULL);
    }
}

/* One warning for each option asked for in a build that leaves out what it needs. */
static void options_check_built(void)
{
    for (size_t i = 0; i < sizeof option_needs / sizeof option_needs[0]; i++) {
        const option_need_t *need = &option_needs[i];
        const option_value_t *v = &option_values[need->id];
        if (need->built || v->source < ARC_SRC_CONF || v->num == 0)
            continue;
        line_t l = {.len = 0};
        if (v->source == ARC_SRC_ENV) {
            line_puts(&l, option_table[need->id].env);
            line_puts(&l, "=");
        } else {
            line_puts(&l, ENV_CONF " ");
            line_puts(&l, option_table[need->id].key);
            line_puts(&l, ":");
        }
        line_puts(&l, v->text);
        line_puts(&l, need->what);
        arc_report_warning(l.buf, NULL);
    }
}

static void verbose_print(void)
{
    line_t l = {.len = 0};
    line_puts(&l, "arcalloc: configuration (address_space " ARC_ADDRESS_SPACE_NAME ", stats ");
    line_puts(&l, ARC_STATS ? "compiled in" : "compiled out");
    line_puts(&l, ", prof ");
    line_puts(&l, ARC_PROF ? "compiled in" : "compiled out");
    line_puts(&l, ", secure ");
    line_puts(&l, ARC_SECURE ? "compiled in" : "compiled out");
    line_puts(&l, ")\n");
    arc_os_write(2, l.buf, l.len);
    for (int i = 0; i < ARC_OPT_COUNT; i++) {
        const option_value_t *v = &option_values[i];
        l.len = 0;
        line_puts(&l, "arcalloc:   ");
        line_puts(&l, option_table[i].env);
        line_puts(&l, "=");
        line_puts(&l, v->source == ARC_SRC_UNSET ? "" : v->text);
        line_puts(&l, " (");
        line_puts(&l, source_names[v->source]);
        line_puts(&l, ")\n");
        arc_os_write(2, l.buf, l.len);
    }
}

void arc_options_load(void)
{
    if (options_loaded)
        return;
    options_loaded = true;
    for (int i = 0; i < ARC_OPT_COUNT; i++) {
        const option_def_t *d = &option_table[i];
        option_values[i].source = ARC_SRC_UNSET;
        if (d->def)
            option_set((arc_option_id_t)i, d->def, strlen(d->def),
                       i == ARC_OPT_BACKEND ? ARC_SRC_BUILD : ARC_SRC_DEFAULT, "default");
    }
    const char *conf = arc_env_get(ENV_CONF);
    if (conf)
        conf_parse(conf);
    for (int i = 0; i < ARC_OPT_COUNT; i++) {
        const char *s = arc_env_get(option_table[i].env);
        /* An empty variable is the same as an unset one (ARCALLOC_BACKEND= keeps the default). */
        if (s && *s)
            option_set((arc_option_id_t)i, s, strlen(s), ARC_SRC_ENV, option_table[i].env);
    }
    env_check_unknown();
    options_check_built();
    if (option_values[ARC_OPT_VERBOSE].num)
        verbose_print();
}

const char *arc_option_str(arc_option_id_t id)
{
    if ((unsigned)id >= ARC_OPT_COUNT)
        return NULL;
    arc_options_load();
    return option_values[id].source == ARC_SRC_UNSET ? NULL : option_values[id].text;
}

long long arc_option_int(arc_option_id_t id)
{
    if ((unsigned)id >= ARC_OPT_COUNT)
        return 0;
    arc_options_load();
    return option_values[id].source == ARC_SRC_UNSET ? 0 : option_values[id].num;
}

arc_option_source_t arc_option_source(arc_option_id_t id)
{
    if ((unsigned)id >= ARC_OPT_COUNT)
        return ARC_SRC_UNSET;
    arc_options_load();
    return option_values[id].source;
}

const arc_byte_ops_t *arc_options_backend(void)
{
    const char *name = arc_option_str(ARC_OPT_BACKEND);
    const arc_byte_ops_t *ops = name ? arc_byte_ops_find(name) : NULL;
    return ops ? ops : arc_byte_ops_find(ARC_DEFAULT_BACKEND);
}

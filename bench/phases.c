/* phases.c: a compiler-like workload. Each phase lexes a token list (small strings), parses
 * expression trees from it, interns identifiers in a chained hash table, evaluates the trees,
 * then drops the phase's objects; a few interned names live on across phases. Verifies every
 * tree's value, every token's text and every symbol; prints "phases ops=N".
 * Never calls the allocator except through the standard malloc family; prints nothing else.
 */
#include "bench.h"

/* Phases at scale 1.0 (about one second under glibc on the reference machine). */
#define PHASES_FULL 60u
#define PHASES_MIN  2u
/* Tokens lexed per phase: ~2 MiB of tokens, trees and symbols live at the phase's peak. */
#define PHASE_TOKENS 60000u
/* Distinct identifier names a phase draws from: many repeats, as in real source. */
#define PHASE_NAMES 4096u
/* Initial bucket count of a phase's symbol table; it doubles when the load passes 1. */
#define SYMTAB_INITIAL_BUCKETS 64u
/* One symbol in this many is kept past its phase, like a global a later phase refers to. */
#define SYMBOL_KEEP_ONE_IN 64u
/* Longest identifier text: "id" plus a decimal number below PHASE_NAMES plus NUL. */
#define TOKEN_TEXT_MAX 16u

typedef enum { TOK_NUMBER, TOK_IDENT, TOK_OP } tok_kind_t;

typedef struct token {
    struct token *next;
    tok_kind_t kind;
    uint64_t value; /* number, name index, or operator index */
    char *text;     /* its spelling, malloc'ed like a real lexer's lexeme */
} token_t;

typedef struct node {
    struct node *left, *right; /* both NULL for a leaf */
    int op;                    /* 0 add, 1 multiply, 2 xor */
    uint64_t value;            /* a leaf's value */
} node_t;

typedef struct symbol {
    struct symbol *next;
    char *name;
    uint64_t hash;
    uint64_t uses;
} symbol_t;

typedef struct {
    symbol_t **buckets;
    size_t nbuckets, count;
} symtab_t;

static const char *const name = "phases";
static unsigned long long ops;

static void *xmalloc(size_t n)
{
    void *p = bench_malloc(name, n);
    ops++;
    return p;
}

static void xfree(void *p)
{
    free(p);
    ops++;
}

static char *text_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

static uint64_t text_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a 64-bit offset basis */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL; /* FNV-1a 64-bit prime */
    return h;
}

/* Decimal digits of v after prefix, NUL-terminated, into buf (TOKEN_TEXT_MAX bytes). Written
 * out by hand: snprintf would cost more than the allocations this workload is about. */
static void text_number(char *buf, const char *prefix, uint64_t v)
{
    char digits[TOKEN_TEXT_MAX];
    size_t n = 0, p = strlen(prefix);
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < TOKEN_TEXT_MAX - 1 - p);
    memcpy(buf, prefix, p);
    while (n)
        buf[p++] = digits[--n];
    buf[p] = '\0';
}

static void token_spell(const token_t *t, char *buf)
{
    static const char ops_text[] = "+*^";
    if (t->kind == TOK_NUMBER) {
        text_number(buf, "", t->value);
    } else if (t->kind == TOK_IDENT) {
        text_number(buf, "id", t->value);
    } else {
        buf[0] = ops_text[t->value];
        buf[1] = '\0';
    }
}

/* Lexing: a list of n tokens, operands and operators alternating like "a + 3 * b". */
static token_t *tokens_lex(bench_rng_t *rng, size_t n)
{
    token_t *head = NULL, **tail = &head;
    char buf[TOKEN_TEXT_MAX];
    for (size_t i = 0; i < n; i++) {
        token_t *t = xmalloc(sizeof *t);
        uint64_t r = bench_rand(rng);
        if (i % 2) {
            t->kind = TOK_OP;
            t->value = r % 3;
        } else if (r & 1) {
            t->kind = TOK_NUMBER;
            t->value = (r >> 8) % 100000;
        } else {
            t->kind = TOK_IDENT;
            t->value = (r >> 8) % PHASE_NAMES;
        }
        token_spell(t, buf);
        t->text = text_dup(buf);
        t->next = NULL;
        *tail = t;
        tail = &t->next;
    }
    return head;
}

static symbol_t *symtab_find(symtab_t *st, const char *s, uint64_t h)
{
    for (symbol_t *y = st->buckets[h % st->nbuckets]; y; y = y->next)
        if (y->hash == h && strcmp(y->name, s) == 0)
            return y;
    return NULL;
}

static void symtab_grow(symtab_t *st)
{
    size_t n = st->nbuckets * 2;
    symbol_t **b = xmalloc(n * sizeof *b);
    memset(b, 0, n * sizeof *b);
    for (size_t i = 0; i < st->nbuckets; i++)
        for (symbol_t *y = st->buckets[i], *next; y; y = next) {
            next = y->next;
            y->next = b[y->hash % n];
            b[y->hash % n] = y;
        }
    xfree(st->buckets);
    st->buckets = b;
    st->nbuckets = n;
}

static symbol_t *symtab_intern(symtab_t *st, const char *s)
{
    uint64_t h = text_hash(s);
    symbol_t *y = symtab_find(st, s, h);
    if (y)
        return y;
    if (st->count >= st->nbuckets)
        symtab_grow(st);
    y = xmalloc(sizeof *y);
    y->name = text_dup(s);
    y->hash = h;
    y->uses = 0;
    y->next = st->buckets[h % st->nbuckets];
    st->buckets[h % st->nbuckets] = y;
    st->count++;
    return y;
}

/* The value an identifier stands for: any fixed function of its name works. */
static uint64_t ident_value(uint64_t index)
{
    return index * 0x9E3779B97F4A7C15ULL + 7;
}

static uint64_t op_apply(int op, uint64_t a, uint64_t b)
{
    return op == 0 ? a + b : op == 1 ? a * b : a ^ b;
}

static node_t *node_leaf(uint64_t v)
{
    node_t *n = xmalloc(sizeof *n);
    n->left = n->right = NULL;
    n->op = 0;
    n->value = v;
    return n;
}

/* Parsing: folds the operands left to right, but every few operators starts a right-leaning
 * subtree, so trees are neither lists nor balanced. *expect gets the value computed while
 * parsing, which evaluation must reproduce from the tree alone. */
static node_t *tree_parse(const token_t **cursor, size_t operands, symtab_t *st, uint64_t *expect)
{
    const token_t *t = *cursor;
    uint64_t v = t->kind == TOK_NUMBER ? t->value : ident_value(t->value);
    if (t->kind == TOK_IDENT)
        symtab_intern(st, t->text)->uses++;
    node_t *root = node_leaf(v);
    *expect = v;
    t = t->next;
    for (size_t i = 1; i < operands && t && t->next; i++) {
        int op = (int)t->value;
        t = t->next;
        node_t *rhs;
        uint64_t rv;
        if (t->value % 5 == 0 && operands - i > 2) {
            size_t sub = (operands - i) / 2;
            rhs = tree_parse(&t, sub, st, &rv);
            i += sub - 1;
        } else {
            rv = t->kind == TOK_NUMBER ? t->value : ident_value(t->value);
            if (t->kind == TOK_IDENT)
                symtab_intern(st, t->text)->uses++;
            rhs = node_leaf(rv);
            t = t->next;
        }
        node_t *n = xmalloc(sizeof *n);
        n->left = root;
        n->right = rhs;
        n->op = op;
        n->value = 0;
        root = n;
        *expect = op_apply(op, *expect, rv);
    }
    *cursor = t;
    return root;
}

static uint64_t tree_eval(const node_t *n)
{
    if (!n->left)
        return n->value;
    return op_apply(n->op, tree_eval(n->left), tree_eval(n->right));
}

static size_t tree_free(node_t *n)
{
    if (!n)
        return 0;
    size_t count = 1 + tree_free(n->left) + tree_free(n->right);
    xfree(n);
    return count;
}

int main(int argc, char **argv)
{
    double scale = bench_scale(name, argc, argv);
    size_t phases = bench_scaled(PHASES_FULL, scale, PHASES_MIN);
    size_t ntok = PHASE_TOKENS | 1; /* odd: the list starts and ends with an operand */
    bench_rng_t rng = bench_rng(2);
    symbol_t *kept = NULL; /* symbols outliving their phase */
    size_t kept_count = 0;

    for (size_t ph = 0; ph < phases; ph++) {
        token_t *toks = tokens_lex(&rng, ntok);
        symtab_t st = {xmalloc(SYMTAB_INITIAL_BUCKETS * sizeof(symbol_t *)), SYMTAB_INITIAL_BUCKETS,
                       0};
        memset(st.buckets, 0, SYMTAB_INITIAL_BUCKETS * sizeof(symbol_t *));

        /* Parse statements of 5..199 operands until the tokens run out. */
        const token_t *cur = toks;
        size_t trees = 0, nodes = 0;
        while (cur) {
            size_t operands = bench_range(&rng, 5, 199);
            uint64_t expect;
            node_t *tree = tree_parse(&cur, operands, &st, &expect);
            uint64_t got = tree_eval(tree);
            if (got != expect)
                bench_fail(name, "phase %zu tree %zu evaluates to %llu, expected %llu", ph, trees,
                           (unsigned long long)got, (unsigned long long)expect);
            nodes += tree_free(tree);
            trees++;
            if (cur && !cur->next)
                break;
            if (cur)
                cur = cur->next; /* the operator between statements acts as a separator */
        }
        if (nodes == 0)
            bench_fail(name, "phase %zu parsed nothing", ph);

        /* Every token's text must still spell it; every identifier must be interned. */
        char buf[TOKEN_TEXT_MAX];
        uint64_t uses = 0;
        for (token_t *t = toks, *next; t; t = next) {
            next = t->next;
            token_spell(t, buf);
            if (strcmp(buf, t->text) != 0)
                bench_fail(name, "token text '%s' should be '%s'", t->text, buf);
            if (t->kind == TOK_IDENT) {
                symbol_t *y = symtab_find(&st, t->text, text_hash(t->text));
                if (!y)
                    bench_fail(name, "identifier %s was not interned", t->text);
            }
            xfree(t->text);
            xfree(t);
        }

        /* Drop the symbol table, keeping a few symbols for good. */
        size_t seen = 0;
        for (size_t i = 0; i < st.nbuckets; i++)
            for (symbol_t *y = st.buckets[i], *next; y; y = next) {
                next = y->next;
                uses += y->uses;
                if (seen++ % SYMBOL_KEEP_ONE_IN == 0) {
                    y->next = kept;
                    kept = y;
                    kept_count++;
                } else {
                    xfree(y->name);
                    xfree(y);
                }
            }
        if (seen != st.count)
            bench_fail(name, "symbol table holds %zu symbols, counted %zu", st.count, seen);
        if (uses == 0)
            bench_fail(name, "phase %zu used no identifiers", ph);
        xfree(st.buckets);
    }

    size_t freed = 0;
    for (symbol_t *y = kept, *next; y; y = next) {
        next = y->next;
        if (text_hash(y->name) != y->hash)
            bench_fail(name, "kept symbol '%s' was overwritten", y->name);
        xfree(y->name);
        xfree(y);
        freed++;
    }
    if (freed != kept_count)
        bench_fail(name, "kept %zu symbols, freed %zu", kept_count, freed);
    printf("%s ops=%llu\n", name, ops);
    return 0;
}

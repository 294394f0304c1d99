/* A small validating JSON walker: enough to read the measurements JSON that
 * `nitro-cli build-enclave` prints, strict enough to refuse anything malformed. */
#include <stdlib.h>
#include <string.h>

#include "nsmkit/error.h"
#include "nsmkit/json.h"

#define JSON_MAX_DEPTH 32
#define JSON_MAX_STRING 4096

typedef struct {
    const char *text;
    size_t len;
    size_t pos;
    nsmkit_json_string_fn fn;
    void *ctx;
    nsmkit_error *e;
    char *keys[JSON_MAX_DEPTH];
    size_t depth; /* number of keys in effect */
    char *scratch; /* JSON_MAX_STRING + 1 bytes for the string being decoded */
} json_walker;

static int json_fail(json_walker *w, const char *what)
{
    return nsmkit_fail(w->e, "JSON: %s at byte %zu", what, w->pos);
}

static void json_skip_space(json_walker *w)
{
    while (w->pos < w->len) {
        char c = w->text[w->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        w->pos++;
    }
}

static int json_hex4(json_walker *w, unsigned *out)
{
    unsigned value = 0;
    if (w->len - w->pos < 4)
        return json_fail(w, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        char c = w->text[w->pos++];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return json_fail(w, "bad \\u escape");
        value = value << 4 | d;
    }
    *out = value;
    return 0;
}

/* Decodes a string at pos (which holds the opening quote) into w->scratch. Escapes that
 * stand for characters outside ASCII are kept as UTF-8. */
static int json_string(json_walker *w, size_t *out_len)
{
    size_t n = 0;
    w->pos++; /* opening quote */
    for (;;) {
        if (w->pos >= w->len)
            return json_fail(w, "unterminated string");
        unsigned char c = (unsigned char)w->text[w->pos++];
        unsigned cp = 0;
        if (c == '"')
            break;
        if (c < 0x20)
            return json_fail(w, "control character in string");
        if (c != '\\') {
            cp = c; /* raw bytes, UTF-8 included, are copied as they are */
            if (n >= JSON_MAX_STRING)
                return json_fail(w, "string too long");
            w->scratch[n++] = (char)cp;
            continue;
        }
        if (w->pos >= w->len)
            return json_fail(w, "unterminated escape");
        char esc = w->text[w->pos++];
        switch (esc) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (json_hex4(w, &cp) != 0)
                return -1;
            break;
        default:
            return json_fail(w, "bad escape");
        }
        /* UTF-8 encode (surrogates are kept as their own code units: we only ever
         * compare such strings, never display them). */
        char utf8[3];
        size_t k;
        if (cp < 0x80) {
            utf8[0] = (char)cp;
            k = 1;
        } else if (cp < 0x800) {
            utf8[0] = (char)(0xc0 | cp >> 6);
            utf8[1] = (char)(0x80 | (cp & 0x3f));
            k = 2;
        } else {
            utf8[0] = (char)(0xe0 | cp >> 12);
            utf8[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
            utf8[2] = (char)(0x80 | (cp & 0x3f));
            k = 3;
        }
        if (JSON_MAX_STRING - n < k)
            return json_fail(w, "string too long");
        memcpy(w->scratch + n, utf8, k);
        n += k;
    }
    w->scratch[n] = '\0';
    *out_len = n;
    return 0;
}

static int json_literal(json_walker *w, const char *word)
{
    size_t n = strlen(word);
    if (w->len - w->pos < n || memcmp(w->text + w->pos, word, n) != 0)
        return json_fail(w, "unexpected character");
    w->pos += n;
    return 0;
}

static int json_number(json_walker *w)
{
    size_t start = w->pos;
    if (w->pos < w->len && w->text[w->pos] == '-')
        w->pos++;
    size_t digits = w->pos;
    while (w->pos < w->len && w->text[w->pos] >= '0' && w->text[w->pos] <= '9')
        w->pos++;
    if (w->pos == digits)
        return json_fail(w, "bad number");
    if (w->text[digits] == '0' && w->pos - digits > 1)
        return json_fail(w, "number with a leading zero");
    if (w->pos < w->len && w->text[w->pos] == '.') {
        w->pos++;
        size_t frac = w->pos;
        while (w->pos < w->len && w->text[w->pos] >= '0' && w->text[w->pos] <= '9')
            w->pos++;
        if (w->pos == frac)
            return json_fail(w, "bad fraction");
    }
    if (w->pos < w->len && (w->text[w->pos] == 'e' || w->text[w->pos] == 'E')) {
        w->pos++;
        if (w->pos < w->len && (w->text[w->pos] == '+' || w->text[w->pos] == '-'))
            w->pos++;
        size_t exp = w->pos;
        while (w->pos < w->len && w->text[w->pos] >= '0' && w->text[w->pos] <= '9')
            w->pos++;
        if (w->pos == exp)
            return json_fail(w, "bad exponent");
    }
    (void)start;
    return 0;
}

static int json_value(json_walker *w, size_t nesting);

static int json_object(json_walker *w, size_t nesting)
{
    w->pos++; /* '{' */
    json_skip_space(w);
    if (w->pos < w->len && w->text[w->pos] == '}') {
        w->pos++;
        return 0;
    }
    for (;;) {
        size_t key_len;
        json_skip_space(w);
        if (w->pos >= w->len || w->text[w->pos] != '"')
            return json_fail(w, "expected a member name");
        if (json_string(w, &key_len) != 0)
            return -1;
        if (w->depth >= JSON_MAX_DEPTH)
            return json_fail(w, "nesting too deep");
        char *key = malloc(key_len + 1);
        if (!key)
            return json_fail(w, "out of memory");
        memcpy(key, w->scratch, key_len + 1);
        w->keys[w->depth++] = key;
        json_skip_space(w);
        int rc = -1;
        if (w->pos >= w->len || w->text[w->pos] != ':')
            json_fail(w, "expected ':'");
        else {
            w->pos++;
            rc = json_value(w, nesting + 1);
        }
        free(w->keys[--w->depth]);
        if (rc != 0)
            return rc;
        json_skip_space(w);
        if (w->pos < w->len && w->text[w->pos] == ',') {
            w->pos++;
            continue;
        }
        if (w->pos < w->len && w->text[w->pos] == '}') {
            w->pos++;
            return 0;
        }
        return json_fail(w, "expected ',' or '}'");
    }
}

static int json_array(json_walker *w, size_t nesting)
{
    w->pos++; /* '[' */
    json_skip_space(w);
    if (w->pos < w->len && w->text[w->pos] == ']') {
        w->pos++;
        return 0;
    }
    for (;;) {
        int rc = json_value(w, nesting + 1);
        if (rc != 0)
            return rc;
        json_skip_space(w);
        if (w->pos < w->len && w->text[w->pos] == ',') {
            w->pos++;
            continue;
        }
        if (w->pos < w->len && w->text[w->pos] == ']') {
            w->pos++;
            return 0;
        }
        return json_fail(w, "expected ',' or ']'");
    }
}

static int json_value(json_walker *w, size_t nesting)
{
    if (nesting > JSON_MAX_DEPTH)
        return json_fail(w, "nesting too deep");
    json_skip_space(w);
    if (w->pos >= w->len)
        return json_fail(w, "unexpected end");
    switch (w->text[w->pos]) {
    case '{':
        return json_object(w, nesting);
    case '[':
        return json_array(w, nesting);
    case '"': {
        size_t n;
        if (json_string(w, &n) != 0)
            return -1;
        if (w->fn) {
            int rc = w->fn(w->ctx, (const char *const *)w->keys, w->depth, w->scratch, n);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    case 't':
        return json_literal(w, "true");
    case 'f':
        return json_literal(w, "false");
    case 'n':
        return json_literal(w, "null");
    default:
        return json_number(w);
    }
}

int nsmkit_json_walk(const char *text, size_t len, nsmkit_json_string_fn fn, void *ctx,
                     nsmkit_error *e)
{
    json_walker w = {.text = text, .len = len, .fn = fn, .ctx = ctx, .e = e};
    w.scratch = malloc(JSON_MAX_STRING + 1);
    if (!w.scratch)
        return nsmkit_fail(e, "out of memory");
    int rc = json_value(&w, 0);
    if (rc == 0) {
        json_skip_space(&w);
        if (w.pos != w.len)
            rc = json_fail(&w, "trailing characters");
    }
    while (w.depth)
        free(w.keys[--w.depth]);
    free(w.scratch);
    return rc;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vsock-proxy allowlist: nitro-cli's vsock-proxy.yaml format, read with libyaml's
 * document API (aliases and all), checked entry by entry.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "allowlist.h"

/* The value of key in a mapping node, or NULL. */
static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
            memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static int parse_port(yaml_node_t *n, uint16_t *out)
{
    if (n == NULL || n->type != YAML_SCALAR_NODE || n->data.scalar.length == 0 || n->data.scalar.length > 5)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n->data.scalar.length; i++) {
        unsigned char ch = n->data.scalar.value[i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

static int parse_entry(yaml_document_t *doc, yaml_node_t *item, vsallow_entry *out, size_t i, nsmkit_error *e)
{
    yaml_node_t *addr = map_get(doc, item, "address");
    yaml_node_t *port = map_get(doc, item, "port");
    if (item == NULL || item->type != YAML_MAPPING_NODE)
        return nsmkit_fail(e, "allowlist entry %zu is not a mapping of address and port", i + 1);
    if (addr == NULL || addr->type != YAML_SCALAR_NODE || addr->data.scalar.length == 0 ||
        addr->data.scalar.length > VSALLOW_MAX_ADDRESS ||
        memchr(addr->data.scalar.value, '\0', addr->data.scalar.length) != NULL)
        return nsmkit_fail(e, "allowlist entry %zu: no address, or not a host name or IP address", i + 1);
    if (parse_port(port, &out->port) != 0)
        return nsmkit_fail(e, "allowlist entry %zu: no port, or not a whole number from 1 to 65535", i + 1);
    memcpy(out->address, addr->data.scalar.value, addr->data.scalar.length);
    out->address[addr->data.scalar.length] = '\0';
    return 0;
}

static int parse_document(yaml_document_t *doc, vsallow *out, nsmkit_error *e)
{
    yaml_node_t *list = map_get(doc, yaml_document_get_root_node(doc), "allowlist");
    if (list == NULL)
        return nsmkit_fail(e, "no 'allowlist' key at the top of the file");
    if (list->type != YAML_SEQUENCE_NODE)
        return nsmkit_fail(e, "'allowlist' is not a list");
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (n > VSALLOW_MAX_ENTRIES)
        return nsmkit_fail(e, "'allowlist' has %zu entries (at most %d)", n, VSALLOW_MAX_ENTRIES);
    out->entries = calloc(n ? n : 1, sizeof(*out->entries));
    if (out->entries == NULL)
        return nsmkit_fail(e, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (parse_entry(doc, yaml_document_get_node(doc, list->data.sequence.items.start[i]),
                        &out->entries[i], i, e) != 0)
            return -1;
    out->count = n;
    return 0;
}

/* libyaml's scanner costs time quadratic in the nesting depth of the input (every token
 * revisits the open levels) and its loader builds every node: before loading, one pass
 * over the events refuses more than VSALLOW_MAX_DEPTH levels, stopping as soon as the
 * depth is exceeded, so a hostile file costs linear time. 0 or -1 with a message. */
static int check_depth(const char *text, size_t len, nsmkit_error *e)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return nsmkit_fail(e, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int depth = 0, rc = 0;
    size_t events = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = nsmkit_fail(e, "not YAML: %s at line %zu", parser.problem ? parser.problem : "error",
                             parser.problem_mark.line + 1);
            break;
        }
        yaml_event_type_t type = ev.type;
        yaml_event_delete(&ev);
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT)
            depth++;
        else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
            depth--;
        if (depth > VSALLOW_MAX_DEPTH) {
            rc = nsmkit_fail(e, "nested deeper than %d levels", VSALLOW_MAX_DEPTH);
            break;
        }
        if (++events > VSALLOW_MAX_EVENTS) {
            rc = nsmkit_fail(e, "more than %d YAML items", VSALLOW_MAX_EVENTS);
            break;
        }
        if (type == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&parser);
    return rc;
}

int vsallow_parse(const char *text, size_t len, vsallow *out, nsmkit_error *e)
{
    memset(out, 0, sizeof(*out));
    if (len > VSALLOW_MAX_BYTES)
        return nsmkit_fail(e, "the allowlist is longer than %d bytes", VSALLOW_MAX_BYTES);
    if (check_depth(text, len, e) != 0)
        return -1;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return nsmkit_fail(e, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc;
    if (!yaml_parser_load(&parser, &doc)) {
        rc = nsmkit_fail(e, "not YAML: %s at line %zu", parser.problem ? parser.problem : "error",
                         parser.problem_mark.line + 1);
    } else {
        rc = parse_document(&doc, out, e);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    if (rc != 0)
        vsallow_free(out);
    return rc;
}

int vsallow_load(const char *path, vsallow *out, nsmkit_error *e)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return nsmkit_fail(e, "%s: %s", path, strerror(errno));
    char *buf = malloc(VSALLOW_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, VSALLOW_MAX_BYTES + 1, f) : 0;
    int bad = buf == NULL || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return nsmkit_fail(e, "%s: cannot be read", path);
    }
    int rc = vsallow_parse(buf, n, out, e);
    free(buf);
    if (rc != 0) {
        char msg[sizeof(e->msg)];
        snprintf(msg, sizeof(msg), "%s", e->msg);
        nsmkit_fail(e, "%s: %s", path, msg);
    }
    return rc;
}

void vsallow_free(vsallow *a)
{
    free(a->entries);
    a->entries = NULL;
    a->count = 0;
}

static int same_address(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return 0;
    if (a->sa_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)(const void *)a)->sin_addr,
                      &((const struct sockaddr_in *)(const void *)b)->sin_addr, sizeof(struct in_addr)) == 0;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return 0;
}

int vsallow_permits(const vsallow *a, const char *host, uint16_t port, const struct sockaddr *resolved,
                    socklen_t resolved_len)
{
    (void)resolved_len;
    for (size_t i = 0; i < a->count; i++) {
        const vsallow_entry *en = &a->entries[i];
        if (en->port != port)
            continue;
        if (strcmp(en->address, host) == 0)
            return 1;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(en->address, NULL, &hints, &res) != 0)
            continue;
        int match = 0;
        for (struct addrinfo *r = res; r != NULL && !match; r = r->ai_next)
            match = same_address(r->ai_addr, resolved);
        freeaddrinfo(res);
        if (match)
            return 1;
    }
    return 0;
}

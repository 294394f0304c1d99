/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-nitro-cli: a `docker save` or OCI image-layout tarball turned into a root filesystem
 * and the image's command and environment, without Docker.
 *
 * The tarball is first unpacked into a private work directory with the same safe writer as
 * the layers (layer.c), so its members are read by name afterwards. Then:
 * - `docker save` (manifest.json): [{Config, RepoTags, Layers}], the image picked by RepoTag
 *   (--docker-uri; ":latest" when no tag) when there are several;
 * - OCI (index.json, when there is no manifest.json): manifests[] -> the image manifest
 *   blob (an index inside is followed once, to its linux/amd64 entry or its first),
 *   config.digest and layers[].digest, blobs at blobs/<alg>/<hex>.
 * Member names from the JSON go through the same normalization as entries; a member that
 * is a symbolic link (Docker 25 writes the legacy layer paths so) is followed lexically
 * inside the work directory, never out of it. JSON members are read up to 1 MiB.
 * The config's Entrypoint then Cmd become the command, Env the environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "layer.h"
#include "nitro_cli.h"

#define JSON_MAX (1024 * 1024)
#define LINK_HOPS 8

/* Resolves rel inside the work directory to a path of a regular file that has no link
 * anywhere on it (written to out). */
static nitrocli_code member_path(const char *work, const char *raw, char *out, size_t cap,
                                 nsmkit_error *e)
{
    char rel[PATH_MAX];
    if (nitrocli_name_normalize(raw, false, rel, sizeof(rel), e) != 0)
        return NITROCLI_ERR_IMAGE_UNSAFE;
    int root = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return nsmkit_fail(e, "%s: %s", work, strerror(errno)), NITROCLI_ERR_IO;
    nitrocli_code code = NITROCLI_ERR_IMAGE_CONFIG;
    for (int hop = 0; hop <= LINK_HOPS; hop++) {
        const char *last;
        int pfd = nitrocli_open_parent(root, rel, false, &last, e);
        if (pfd < 0) {
            if (pfd == -2)
                nsmkit_fail(e, "%s: not in the tarball", raw);
            code = pfd == -2 ? NITROCLI_ERR_IMAGE_CONFIG : NITROCLI_ERR_IMAGE_UNSAFE;
            break;
        }
        struct stat st;
        char target[PATH_MAX];
        ssize_t n = -1;
        int rc = fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW);
        if (rc == 0 && S_ISLNK(st.st_mode))
            n = readlinkat(pfd, last, target, sizeof(target) - 1);
        close(pfd);
        if (rc != 0 || (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))) {
            nsmkit_fail(e, "%s: not a regular file in the tarball", raw);
            break;
        }
        if (S_ISREG(st.st_mode)) {
            code = (size_t)snprintf(out, cap, "%s/%s", work, rel) < cap
                       ? NITROCLI_ERR_OK
                       : (nsmkit_fail(e, "%s: path too long", raw), NITROCLI_ERR_IO);
            break;
        }
        if (n <= 0 || target[0] == '/') {
            nsmkit_fail(e, "%s: a link out of the tarball", raw);
            code = NITROCLI_ERR_IMAGE_UNSAFE;
            break;
        }
        target[n] = '\0';
        char joined[2 * PATH_MAX];
        int dir_len = (int)(last - rel);
        snprintf(joined, sizeof(joined), "%.*s%s", dir_len, rel, target);
        if (nitrocli_name_normalize(joined, true, rel, sizeof(rel), e) != 0) {
            code = NITROCLI_ERR_IMAGE_UNSAFE;
            break;
        }
        if (hop == LINK_HOPS)
            nsmkit_fail(e, "%s: more than %d links", raw, LINK_HOPS);
    }
    close(root);
    return code;
}

static nitrocli_code load_json(const char *work, const char *raw, json_t **out,
                               nsmkit_error *e)
{
    char path[PATH_MAX];
    nitrocli_code code = member_path(work, raw, path, sizeof(path), e);
    if (code != NITROCLI_ERR_OK)
        return code;
    json_error_t je;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return nsmkit_fail(e, "%s: %s", raw, strerror(errno)), NITROCLI_ERR_IO;
    char *buf = malloc(JSON_MAX + 1);
    size_t n = buf ? fread(buf, 1, JSON_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL)
        return nsmkit_fail(e, "out of memory"), NITROCLI_ERR_NO_MEMORY;
    if (n > JSON_MAX) {
        free(buf);
        return nsmkit_fail(e, "%s: larger than %d bytes", raw, JSON_MAX),
               NITROCLI_ERR_IMAGE_TOO_LARGE;
    }
    *out = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (*out == NULL)
        return nsmkit_fail(e, "%s: %s (line %d)", raw, je.text, je.line),
               NITROCLI_ERR_IMAGE_CONFIG;
    return NITROCLI_ERR_OK;
}

/* "sha256:<hex>" -> "blobs/sha256/<hex>" */
static int digest_path(const char *digest, char *out, size_t cap, nsmkit_error *e)
{
    const char *colon = digest ? strchr(digest, ':') : NULL;
    if (colon == NULL || colon == digest || strlen(colon + 1) < 32 || strlen(digest) > 200 ||
        strspn(digest, "abcdefghijklmnopqrstuvwxyz0123456789") != (size_t)(colon - digest) ||
        strspn(colon + 1, "0123456789abcdef") != strlen(colon + 1))
        return nsmkit_fail(e, "not a digest: %.80s", digest ? digest : "(none)");
    snprintf(out, cap, "blobs/%.*s/%s", (int)(colon - digest), digest, colon + 1);
    return 0;
}

/* The image's entry in a docker-save manifest.json. */
static json_t *pick_docker(json_t *manifest, const char *uri, nsmkit_error *e)
{
    if (!json_is_array(manifest) || json_array_size(manifest) == 0)
        return nsmkit_fail(e, "manifest.json: not a non-empty array"), NULL;
    if (uri == NULL) {
        if (json_array_size(manifest) == 1)
            return json_array_get(manifest, 0);
        nsmkit_fail(e, "manifest.json holds %zu images: name one with --docker-uri",
                    json_array_size(manifest));
        return NULL;
    }
    char want[512];
    const char *slash = strrchr(uri, '/');
    bool tagged = strchr(slash ? slash : uri, ':') != NULL;
    snprintf(want, sizeof(want), "%s%s", uri, tagged ? "" : ":latest");
    size_t i, j;
    json_t *image, *tag;
    json_array_foreach(manifest, i, image) {
        json_array_foreach(json_object_get(image, "RepoTags"), j, tag) {
            const char *t = json_string_value(tag);
            if (t && (strcmp(t, want) == 0 || strcmp(t, uri) == 0))
                return image;
        }
    }
    nsmkit_fail(e, "manifest.json: no image tagged %s", want);
    return NULL;
}

/* Layers (paths in the work directory) and the config's member name from the tarball. */
typedef struct {
    char config[PATH_MAX];
    char **layers;
    size_t count;
} image_plan;

static nitrocli_code plan_add_layer(image_plan *plan, const char *name, nsmkit_error *e)
{
    char **grown = realloc(plan->layers, (plan->count + 1) * sizeof(*grown));
    if (grown == NULL || (grown[plan->count] = strdup(name)) == NULL) {
        if (grown)
            plan->layers = grown;
        return nsmkit_fail(e, "out of memory"), NITROCLI_ERR_NO_MEMORY;
    }
    plan->layers = grown;
    plan->count++;
    return NITROCLI_ERR_OK;
}

static nitrocli_code plan_docker(json_t *manifest, const char *uri, image_plan *plan,
                                 nsmkit_error *e)
{
    json_t *image = pick_docker(manifest, uri, e);
    if (image == NULL)
        return NITROCLI_ERR_IMAGE_CONFIG;
    const char *config = json_string_value(json_object_get(image, "Config"));
    json_t *layers = json_object_get(image, "Layers");
    if (config == NULL || !json_is_array(layers))
        return nsmkit_fail(e, "manifest.json: an image without Config or Layers"),
               NITROCLI_ERR_IMAGE_CONFIG;
    snprintf(plan->config, sizeof(plan->config), "%s", config);
    size_t i;
    json_t *layer;
    json_array_foreach(layers, i, layer) {
        if (!json_is_string(layer))
            return nsmkit_fail(e, "manifest.json: a layer that is not a string"),
                   NITROCLI_ERR_IMAGE_CONFIG;
        nitrocli_code code = plan_add_layer(plan, json_string_value(layer), e);
        if (code != NITROCLI_ERR_OK)
            return code;
    }
    return NITROCLI_ERR_OK;
}

/* An OCI index's chosen manifest descriptor: linux/amd64, else the first. */
static json_t *pick_oci(json_t *index)
{
    json_t *list = json_object_get(index, "manifests"), *m;
    size_t i;
    json_array_foreach(list, i, m) {
        json_t *platform = json_object_get(m, "platform");
        const char *arch = json_string_value(json_object_get(platform, "architecture"));
        if (arch && strcmp(arch, "amd64") == 0)
            return m;
    }
    return json_array_get(list, 0);
}

static nitrocli_code plan_oci(const char *work, json_t *index, image_plan *plan,
                              nsmkit_error *e)
{
    json_t *manifest = NULL;
    nitrocli_code code = NITROCLI_ERR_OK;
    for (int depth = 0; depth < 2 && code == NITROCLI_ERR_OK; depth++) {
        char path[PATH_MAX];
        json_t *desc = pick_oci(manifest ? manifest : index);
        if (desc == NULL) {
            if (manifest != NULL && json_object_get(manifest, "layers") != NULL)
                break;
            nsmkit_fail(e, "index.json: no manifests");
            code = NITROCLI_ERR_IMAGE_CONFIG;
        } else if (digest_path(json_string_value(json_object_get(desc, "digest")), path,
                               sizeof(path), e) != 0) {
            code = NITROCLI_ERR_IMAGE_CONFIG;
        } else {
            json_decref(manifest);
            manifest = NULL;
            code = load_json(work, path, &manifest, e);
        }
    }
    json_t *layers = json_object_get(manifest, "layers"), *layer;
    if (code == NITROCLI_ERR_OK && (!json_is_array(layers) ||
        digest_path(json_string_value(json_object_get(json_object_get(manifest, "config"),
                                                      "digest")),
                    plan->config, sizeof(plan->config), e) != 0)) {
        if (!json_is_array(layers))
            nsmkit_fail(e, "the OCI manifest has no layers");
        code = NITROCLI_ERR_IMAGE_CONFIG;
    }
    size_t i;
    json_array_foreach(layers, i, layer) {
        char path[PATH_MAX];
        if (code != NITROCLI_ERR_OK)
            break;
        if (digest_path(json_string_value(json_object_get(layer, "digest")), path,
                        sizeof(path), e) != 0)
            code = NITROCLI_ERR_IMAGE_CONFIG;
        else
            code = plan_add_layer(plan, path, e);
    }
    json_decref(manifest);
    return code;
}

static nitrocli_code string_list(json_t *list, const char *what, char ***out, size_t *count,
                                 nsmkit_error *e)
{
    if (list == NULL || json_is_null(list))
        return NITROCLI_ERR_OK;
    if (!json_is_array(list))
        return nsmkit_fail(e, "config: %s is not an array", what), NITROCLI_ERR_IMAGE_CONFIG;
    size_t n = json_array_size(list), i;
    char **grown = realloc(*out, (*count + n + 1) * sizeof(*grown));
    if (grown == NULL)
        return nsmkit_fail(e, "out of memory"), NITROCLI_ERR_NO_MEMORY;
    *out = grown;
    json_t *item;
    json_array_foreach(list, i, item) {
        const char *s = json_string_value(item);
        if (s == NULL || strchr(s, '\n') != NULL)
            return nsmkit_fail(e, "config: %s holds a non-string or a newline", what),
                   NITROCLI_ERR_IMAGE_CONFIG;
        if ((grown[*count] = strdup(s)) == NULL)
            return nsmkit_fail(e, "out of memory"), NITROCLI_ERR_NO_MEMORY;
        grown[++*count] = NULL;
    }
    return NITROCLI_ERR_OK;
}

static nitrocli_code read_config(const char *work, const char *name,
                                 nitrocli_image_config *config, nsmkit_error *e)
{
    json_t *root = NULL;
    nitrocli_code code = load_json(work, name, &root, e);
    if (code != NITROCLI_ERR_OK)
        return code;
    json_t *c = json_object_get(root, "config");
    if (!json_is_object(c)) {
        json_decref(root);
        return nsmkit_fail(e, "%s: no \"config\" object", name), NITROCLI_ERR_IMAGE_CONFIG;
    }
    code = string_list(json_object_get(c, "Entrypoint"), "Entrypoint", &config->argv,
                       &config->argc, e);
    if (code == NITROCLI_ERR_OK)
        code = string_list(json_object_get(c, "Cmd"), "Cmd", &config->argv, &config->argc, e);
    if (code == NITROCLI_ERR_OK)
        code = string_list(json_object_get(c, "Env"), "Env", &config->env, &config->envc, e);
    json_decref(root);
    return code;
}

void nitrocli_image_config_free(nitrocli_image_config *config)
{
    for (size_t i = 0; i < config->argc; i++)
        free(config->argv[i]);
    for (size_t i = 0; i < config->envc; i++)
        free(config->env[i]);
    free(config->argv);
    free(config->env);
    memset(config, 0, sizeof(*config));
}

static nitrocli_code plan_image(const char *work, const char *uri, image_plan *plan,
                                nsmkit_error *e)
{
    json_t *top = NULL;
    char probe[PATH_MAX];
    nsmkit_error ignored;
    bool docker = member_path(work, "manifest.json", probe, sizeof(probe), &ignored) ==
                  NITROCLI_ERR_OK;
    nitrocli_code code = load_json(work, docker ? "manifest.json" : "index.json", &top, e);
    if (code != NITROCLI_ERR_OK) {
        if (!docker && code == NITROCLI_ERR_IMAGE_CONFIG)
            nsmkit_fail(e, "neither manifest.json (docker save) nor index.json (OCI) in the "
                           "tarball");
        return code == NITROCLI_ERR_IMAGE_CONFIG ? NITROCLI_ERR_IMAGE_TAR : code;
    }
    code = docker ? plan_docker(top, uri, plan, e) : plan_oci(work, top, plan, e);
    json_decref(top);
    return code;
}

nitrocli_code nitrocli_image_unpack(const char *tarball, const char *uri, const char *work,
                                    const char *rootfs, const nitrocli_limits *limits,
                                    nitrocli_image_config *config, nsmkit_error *e)
{
    uint64_t bytes = 0, entries = 0;
    image_plan plan = {.count = 0};
    nitrocli_code code = nitrocli_layer_apply(tarball, work, limits, &bytes, &entries, e);
    if (code == NITROCLI_ERR_OK)
        code = plan_image(work, uri, &plan, e);
    for (size_t i = 0; i < plan.count && code == NITROCLI_ERR_OK; i++) {
        char path[PATH_MAX];
        code = member_path(work, plan.layers[i], path, sizeof(path), e);
        if (code == NITROCLI_ERR_OK)
            code = nitrocli_layer_apply(path, rootfs, limits, &bytes, &entries, e);
    }
    if (code == NITROCLI_ERR_OK)
        code = read_config(work, plan.config, config, e);
    for (size_t i = 0; i < plan.count; i++)
        free(plan.layers[i]);
    free(plan.layers);
    return code;
}

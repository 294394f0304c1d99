/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms: the key store (see store.h). */
#include "store.h"

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/file.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "nsmkit/bytes.h"
#include "nsmkit/file.h"

#include "asym.h"
#include "base64.h"
#include "policy.h"

/* What the server reads back at start, per file; a write that would exceed it is refused
 * before anything is answered (a write the next start cannot read is never acknowledged). */
#define KEY_FILE_MAX (512 * 1024)   /* worst case of the field limits is about half of it */
#define ALIAS_FILE_MAX 1024         /* a 256-byte name, a key id and the JSON around them */
#define LEGACY_ALIASES_MAX (8 * 1024 * 1024) /* aliases.json of earlier versions */

struct kms_store {
    pthread_mutex_t lock;
    int lock_fd;       /* owned: flock on DIR/lock, so one server owns the directory */
    size_t temporaries_removed; /* at open: files of interrupted writes */
    char *dir;         /* owned */
    char region[64];
    char account[32];
    kms_key *keys;     /* owned, creation order */
    size_t key_count, key_cap;
    kms_alias *aliases; /* owned */
    size_t alias_count, alias_cap;
};

void kms_key_clear(kms_key *key)
{
    if (key == NULL)
        return;
    free(key->description);
    free(key->policy);
    if (key->private_der != NULL) {
        nsmkit_wipe(key->private_der, key->private_len);
        free(key->private_der);
    }
    nsmkit_wipe(key, sizeof(*key));
}

static int key_copy(const kms_key *from, kms_key *to)
{
    *to = *from;
    to->description = strdup(from->description);
    to->policy = strdup(from->policy);
    to->private_der = NULL;
    if (from->private_der != NULL && (to->private_der = malloc(from->private_len)) != NULL)
        memcpy(to->private_der, from->private_der, from->private_len);
    if (to->description == NULL || to->policy == NULL ||
        (from->private_der != NULL && to->private_der == NULL)) {
        kms_key_clear(to);
        return -1;
    }
    return 0;
}

const char *kms_store_region(const kms_store *store)
{
    return store->region;
}

const char *kms_store_account(const kms_store *store)
{
    return store->account;
}

void kms_store_key_arn(const kms_store *store, const char *id, char *out, size_t out_size)
{
    snprintf(out, out_size, "arn:aws:kms:%s:%s:key/%s", store->region, store->account, id);
}

/* ---- files ----------------------------------------------------------------------------------- */

static int key_path(const kms_store *store, const char *id, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "%s/keys/%s.json", store->dir, id);
    return n > 0 && (size_t)n < out_size ? 0 : -1;
}

/* Writes doc atomically, unless its text is over limit bytes: then nothing is written and
 * the caller refuses the request (LimitExceededException), since the next start would not
 * read the file back. Returns 1 for over the limit, -1 for an I/O error. */
static int write_json(const char *path, json_t *doc, size_t limit, nsmkit_error *e)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS); /* owned */
    if (text == NULL)
        return nsmkit_fail(e, "out of memory");
    size_t len = strlen(text);
    if (len > limit) {
        nsmkit_wipe(text, len);
        free(text);
        nsmkit_fail(e, "its state file would be %zu bytes, over the %zu that nsm-kms reads "
                    "back at start", len, limit);
        return 1;
    }
    int rc = nsmkit_file_write(path, (const uint8_t *)text, len, 0600, e);
    nsmkit_wipe(text, len);
    free(text);
    return rc;
}

static int key_save(const kms_store *store, const kms_key *key, nsmkit_error *e)
{
    char path[4096];
    if (key_path(store, key->id, path, sizeof(path)) != 0)
        return nsmkit_fail(e, "state directory path too long");
    char *material = kms_base64_encode(key->material, sizeof(key->material)); /* owned */
    json_t *doc = json_pack("{s:s, s:s, s:I, s:b, s:s, s:s}", "KeyId", key->id,
                            "Material", material != NULL ? material : "", "CreationDate",
                            (json_int_t)key->creation_s, "Enabled", key->enabled, "Description",
                            key->description, "Policy", key->policy); /* owned */
    char *private_b64 = key->private_der != NULL
                            ? kms_base64_encode(key->private_der, key->private_len) : NULL;
    if (doc != NULL && key->private_der != NULL &&
        (private_b64 == NULL ||
         json_object_set_new(doc, "PrivateKey", json_string(private_b64)) != 0 ||
         json_object_set_new(doc, "KeySpec", json_string(key->spec)) != 0 ||
         json_object_set_new(doc, "KeyUsage", json_string(key->usage)) != 0)) {
        json_decref(doc);
        doc = NULL;
    }
    if (private_b64 != NULL) {
        nsmkit_wipe(private_b64, strlen(private_b64));
        free(private_b64);
    }
    int rc = doc != NULL && material != NULL ? write_json(path, doc, KEY_FILE_MAX, e)
                                             : nsmkit_fail(e, "out of memory");
    json_decref(doc);
    if (material != NULL) {
        nsmkit_wipe(material, strlen(material));
        free(material);
    }
    return rc;
}

/* DIR/aliases/<SHA-256 of the name, hex>.json: one small file per alias, so that a write
 * costs the same with 10 aliases or 10,000 and every file is far below ALIAS_FILE_MAX. */
static int alias_path(const kms_store *store, const char *name, char *out, size_t out_size)
{
    uint8_t digest[32];
    unsigned int n = 0;
    if (EVP_Digest(name, strlen(name), digest, &n, EVP_sha256(), NULL) != 1)
        return -1;
    int len = snprintf(out, out_size, "%s/aliases/", store->dir);
    if (len < 0 || (size_t)len + 64 + 6 > out_size)
        return -1;
    for (size_t i = 0; i < 32; i++)
        snprintf(out + len + 2 * i, 3, "%02x", digest[i]);
    snprintf(out + len + 64, 6, ".json");
    return 0;
}

static int alias_save(const kms_store *store, const kms_alias *alias, nsmkit_error *e)
{
    char path[4096];
    if (alias_path(store, alias->name, path, sizeof(path)) != 0)
        return nsmkit_fail(e, "state directory path too long");
    json_t *doc = json_pack("{s:s, s:s}", "AliasName", alias->name, "TargetKeyId",
                            alias->target); /* owned */
    if (doc == NULL)
        return nsmkit_fail(e, "out of memory");
    int rc = write_json(path, doc, ALIAS_FILE_MAX, e);
    json_decref(doc);
    return rc;
}

/* Reads a state file that must be private to the owner. Owned result. */
static json_t *read_state_file(const char *path, size_t limit, nsmkit_error *e)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        nsmkit_fail(e, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if ((st.st_mode & 077) != 0) {
        nsmkit_fail(e, "%s: holds key material but is open to group or others (mode %03o)",
                    path, (unsigned)(st.st_mode & 0777));
        return NULL;
    }
    uint8_t *data = NULL; /* owned */
    size_t len = 0;
    if (nsmkit_file_read(path, limit, &data, &len, e) != 0)
        return NULL;
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
    nsmkit_wipe(data, len);
    free(data);
    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        nsmkit_fail(e, "%s: not a JSON object%s%s", path, doc == NULL ? ": " : "",
                    doc == NULL ? jerr.text : "");
        return NULL;
    }
    return doc;
}

static int grow(void **array, size_t *cap, size_t count, size_t size)
{
    if (count < *cap)
        return 0;
    size_t next = *cap == 0 ? 16 : *cap * 2;
    void *p = realloc(*array, next * size);
    if (p == NULL)
        return -1;
    *array = p;
    *cap = next;
    return 0;
}

static int key_load(kms_store *store, const char *path, nsmkit_error *e)
{
    json_t *doc = read_state_file(path, KEY_FILE_MAX, e); /* owned */
    if (doc == NULL)
        return -1;
    const char *id = NULL, *material = NULL, *description = NULL, *policy = NULL;
    const char *spec = NULL, *usage = NULL, *private_b64 = NULL;
    uint8_t *private_der = NULL;
    size_t private_len = 0;
    json_int_t creation = 0;
    int enabled = 0;
    json_error_t jerr;
    int rc = -1;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (json_unpack_ex(doc, &jerr, JSON_STRICT, "{s:s, s:s, s:I, s:b, s:s, s:s, s?s, s?s, s?s}",
                       "KeyId", &id, "Material", &material, "CreationDate", &creation,
                       "Enabled", &enabled, "Description", &description, "Policy", &policy,
                       "KeySpec", &spec, "KeyUsage", &usage, "PrivateKey", &private_b64) != 0) {
        nsmkit_fail(e, "%s: %s", path, jerr.text);
        goto done;
    }
    if ((spec != NULL || usage != NULL || private_b64 != NULL) &&
        (spec == NULL || usage == NULL || private_b64 == NULL ||
         !kms_asym_usage_allowed(spec, usage) ||
         kms_base64_decode(private_b64, strlen(private_b64), KMS_ASYM_DER_MAX, &private_der,
                           &private_len, e) != 0)) {
        nsmkit_fail(e, "%s: KeySpec, KeyUsage and PrivateKey do not make an asymmetric key", path);
        goto done;
    }
    if (!kms_key_id_valid(id, strlen(id))) {
        nsmkit_fail(e, "%s: KeyId is not a key id", path);
        goto done;
    }
    if (kms_base64_decode(material, strlen(material), KMS_KEY_MATERIAL_LEN, &raw, &raw_len, e) != 0 ||
        raw_len != KMS_KEY_MATERIAL_LEN) {
        nsmkit_fail(e, "%s: Material is not base64 of %d bytes", path, KMS_KEY_MATERIAL_LEN);
        goto done;
    }
    if (store->key_count >= KMS_KEYS_MAX ||
        grow((void **)&store->keys, &store->key_cap, store->key_count, sizeof(kms_key)) != 0) {
        nsmkit_fail(e, "%s: too many keys or out of memory", path);
        goto done;
    }
    kms_key *key = &store->keys[store->key_count];
    memset(key, 0, sizeof(*key));
    snprintf(key->id, sizeof(key->id), "%s", id);
    snprintf(key->spec, sizeof(key->spec), "%s", spec != NULL ? spec : "SYMMETRIC_DEFAULT");
    snprintf(key->usage, sizeof(key->usage), "%s", usage != NULL ? usage : "ENCRYPT_DECRYPT");
    key->private_der = private_der; /* the key takes it */
    key->private_len = private_len;
    private_der = NULL;
    memcpy(key->material, raw, KMS_KEY_MATERIAL_LEN);
    key->creation_s = creation;
    key->enabled = enabled != 0;
    key->description = strdup(description);
    key->policy = strdup(policy);
    if (key->description == NULL || key->policy == NULL) {
        kms_key_clear(key);
        nsmkit_fail(e, "out of memory");
        goto done;
    }
    store->key_count++;
    rc = 0;
done:
    if (raw != NULL) {
        nsmkit_wipe(raw, raw_len);
        free(raw);
    }
    if (private_der != NULL) {
        nsmkit_wipe(private_der, private_len);
        free(private_der);
    }
    json_decref(doc);
    return rc;
}

static int by_creation(const void *a, const void *b)
{
    const kms_key *x = a, *y = b;
    if (x->creation_s != y->creation_s)
        return x->creation_s < y->creation_s ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Adds one alias read from a state file (name and target checked). */
static int alias_add(kms_store *store, const char *path, const char *name, const char *id,
                     nsmkit_error *e)
{
    if (id == NULL || !kms_key_id_valid(id, strlen(id)) || strlen(name) > KMS_ALIAS_NAME_MAX ||
        strncmp(name, "alias/", 6) != 0)
        return nsmkit_fail(e, "%s: alias %.80s is malformed", path, name);
    if (store->alias_count >= KMS_ALIASES_MAX ||
        grow((void **)&store->aliases, &store->alias_cap, store->alias_count,
             sizeof(kms_alias)) != 0)
        return nsmkit_fail(e, "%s: too many aliases or out of memory", path);
    kms_alias *a = &store->aliases[store->alias_count++];
    snprintf(a->name, sizeof(a->name), "%s", name);
    snprintf(a->target, sizeof(a->target), "%s", id);
    return 0;
}

static int alias_load(kms_store *store, const char *path, const char *file_name,
                      nsmkit_error *e)
{
    json_t *doc = read_state_file(path, ALIAS_FILE_MAX, e); /* owned */
    if (doc == NULL)
        return -1;
    const char *name = NULL, *id = NULL;
    json_error_t jerr;
    char expected[4096];
    int rc = -1;
    if (json_unpack_ex(doc, &jerr, JSON_STRICT, "{s:s, s:s}", "AliasName", &name,
                       "TargetKeyId", &id) != 0)
        nsmkit_fail(e, "%s: %s", path, jerr.text);
    else if (alias_path(store, name, expected, sizeof(expected)) != 0 ||
             strcmp(strrchr(expected, '/') + 1, file_name) != 0)
        nsmkit_fail(e, "%s: the file name is not the SHA-256 of its AliasName", path);
    else
        rc = alias_add(store, path, name, id, e);
    json_decref(doc);
    return rc;
}

/* aliases.json of earlier versions: its aliases move into one file each, then it goes. */
static int aliases_migrate(kms_store *store, nsmkit_error *e)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/aliases.json", store->dir);
    if (access(path, F_OK) != 0)
        return 0;
    json_t *doc = read_state_file(path, LEGACY_ALIASES_MAX, e); /* owned */
    if (doc == NULL)
        return -1;
    const char *name;
    json_t *target;
    int rc = 0;
    json_object_foreach(doc, name, target)
    {
        if (rc == 0)
            rc = alias_add(store, path, name, json_string_value(target), e);
        if (rc == 0 && alias_save(store, &store->aliases[store->alias_count - 1], e) != 0)
            rc = -1;
    }
    json_decref(doc);
    if (rc == 0 && unlink(path) != 0)
        rc = nsmkit_fail(e, "%s: %s", path, strerror(errno));
    return rc;
}

static bool is_hex64_json(const char *name)
{
    if (strlen(name) != 64 + 5 || strcmp(name + 64, ".json") != 0)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)name[i]) || isupper((unsigned char)name[i]))
            return false;
    return true;
}

static int aliases_load(kms_store *store, nsmkit_error *e)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/aliases", store->dir);
    DIR *d = opendir(path); /* owned */
    if (d == NULL)
        return nsmkit_fail(e, "%s: %s", path, strerror(errno));
    struct dirent *entry;
    int rc = 0;
    while (rc == 0 && (entry = readdir(d)) != NULL) {
        if (!is_hex64_json(entry->d_name))
            continue;
        char file[4096 + 80];
        snprintf(file, sizeof(file), "%s/%.69s", path, entry->d_name); /* 64 hex + ".json" */
        rc = alias_load(store, file, entry->d_name, e);
    }
    closedir(d);
    return rc != 0 ? -1 : aliases_migrate(store, e);
}

/* "NAME.tmp" and digits: the temporary file of a write a crash or SIGKILL interrupted. */
static bool is_temporary(const char *name)
{
    const char *t = strstr(name, ".tmp");
    if (t == NULL || t == name)
        return false;
    t += 4;
    return *t != '\0' && strspn(t, "0123456789") == strlen(t);
}

/* Removes the temporary files of interrupted writes (under the directory's lock, so no
 * other server is writing them). Returns how many went. */
static int remove_temporaries(const char *dir, size_t *removed, nsmkit_error *e)
{
    DIR *d = opendir(dir); /* owned */
    if (d == NULL)
        return nsmkit_fail(e, "%s: %s", dir, strerror(errno));
    struct dirent *entry;
    int rc = 0;
    while ((entry = readdir(d)) != NULL) {
        if (!is_temporary(entry->d_name))
            continue;
        if (unlinkat(dirfd(d), entry->d_name, 0) != 0 && errno != ENOENT)
            rc = nsmkit_fail(e, "%s/%s: cannot remove: %s", dir, entry->d_name, strerror(errno));
        else
            (*removed)++;
    }
    closedir(d);
    return rc;
}

static int store_load(kms_store *store, nsmkit_error *e)
{
    char path[4096];
    static const char *const dirs[] = {"", "/keys", "/aliases"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", store->dir, dirs[i]);
        if (remove_temporaries(path, &store->temporaries_removed, e) != 0)
            return -1;
    }
    snprintf(path, sizeof(path), "%s/keys", store->dir);
    DIR *d = opendir(path); /* owned */
    if (d == NULL)
        return nsmkit_fail(e, "%s: %s", path, strerror(errno));
    struct dirent *entry;
    int rc = 0;
    while (rc == 0 && (entry = readdir(d)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len != KMS_KEY_ID_LEN + 5 || strcmp(entry->d_name + KMS_KEY_ID_LEN, ".json") != 0 ||
            !kms_key_id_valid(entry->d_name, KMS_KEY_ID_LEN))
            continue; /* temporary files of interrupted writes, and anything else */
        char id[KMS_KEY_ID_LEN + 1];
        memcpy(id, entry->d_name, KMS_KEY_ID_LEN);
        id[KMS_KEY_ID_LEN] = '\0';
        char file[4096 + 64];
        if (key_path(store, id, file, sizeof(file)) != 0)
            rc = nsmkit_fail(e, "state directory path too long");
        else
            rc = key_load(store, file, e);
    }
    closedir(d);
    if (rc != 0)
        return -1;
    if (store->key_count > 1)
        qsort(store->keys, store->key_count, sizeof(kms_key), by_creation);

    return aliases_load(store, e);
}

/* One server per state directory: the other's writes would be lost, and its temporary
 * files are not ours to remove. */
static int store_lock(kms_store *store, nsmkit_error *e)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/lock", store->dir);
    store->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (store->lock_fd < 0)
        return nsmkit_fail(e, "%s: %s", path, strerror(errno));
    if (flock(store->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return nsmkit_fail(e, "%s: another nsm-kms serves this state directory (%s)", store->dir,
                           errno == EWOULDBLOCK ? "its lock is held" : strerror(errno));
    return 0;
}

size_t kms_store_temporaries_removed(const kms_store *store)
{
    return store->temporaries_removed;
}

int kms_store_open(const char *dir, const char *region, const char *account, kms_store **out,
                   nsmkit_error *e)
{
    kms_store *store = calloc(1, sizeof(*store)); /* owned until returned */
    if (store == NULL)
        return nsmkit_fail(e, "out of memory");
    store->lock_fd = -1;
    pthread_mutex_init(&store->lock, NULL);
    snprintf(store->region, sizeof(store->region), "%s", region);
    snprintf(store->account, sizeof(store->account), "%s", account);
    store->dir = strdup(dir);
    char keys[4096];
    int n = snprintf(keys, sizeof(keys), "%s/keys", dir);
    if (store->dir == NULL || n < 0 || (size_t)n >= sizeof(keys) - 64) {
        kms_store_close(store);
        return nsmkit_fail(e, "out of memory or state path too long");
    }
    struct stat st;
    char aliases[4096];
    snprintf(aliases, sizeof(aliases), "%s/aliases", dir);
    if (nsmkit_mkdir_p(keys, 0700, e) != 0 || nsmkit_mkdir_p(aliases, 0700, e) != 0 ||
        stat(dir, &st) != 0) {
        kms_store_close(store);
        return -1;
    }
    if ((st.st_mode & 077) != 0) {
        kms_store_close(store);
        return nsmkit_fail(e, "%s: the state directory is open to group or others (mode %03o); "
                           "chmod 700 it", dir, (unsigned)(st.st_mode & 0777));
    }
    if (store_lock(store, e) != 0 || store_load(store, e) != 0) {
        kms_store_close(store);
        return -1;
    }
    *out = store;
    return 0;
}

void kms_store_close(kms_store *store)
{
    if (store == NULL)
        return;
    for (size_t i = 0; i < store->key_count; i++)
        kms_key_clear(&store->keys[i]);
    free(store->keys);
    free(store->aliases);
    free(store->dir);
    if (store->lock_fd >= 0)
        close(store->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&store->lock);
    free(store);
}

/* ---- lookups ---------------------------------------------------------------------------------- */

static kms_key *find_id(kms_store *store, const char *id)
{
    for (size_t i = 0; i < store->key_count; i++)
        if (strcmp(store->keys[i].id, id) == 0)
            return &store->keys[i];
    return NULL;
}

static kms_alias *find_alias(kms_store *store, const char *name)
{
    for (size_t i = 0; i < store->alias_count; i++)
        if (strcmp(store->aliases[i].name, name) == 0)
            return &store->aliases[i];
    return NULL;
}

/* Resolves under the lock. */
static kms_key *resolve(kms_store *store, const char *ref, kms_error *e)
{
    char prefix[160];
    snprintf(prefix, sizeof(prefix), "arn:aws:kms:%s:%s:", store->region, store->account);
    const char *rest = ref;
    if (strncmp(ref, "arn:", 4) == 0) {
        if (strncmp(ref, prefix, strlen(prefix)) != 0) {
            kms_fail(e, KMS_ERR_NOT_FOUND, "Invalid arn %.200s: not of this server's region %s "
                     "and account %s", ref, store->region, store->account);
            return NULL;
        }
        rest = ref + strlen(prefix);
        if (strncmp(rest, "key/", 4) == 0) {
            rest += 4;
        } else if (strncmp(rest, "alias/", 6) != 0) {
            kms_fail(e, KMS_ERR_NOT_FOUND, "Invalid arn %.200s", ref);
            return NULL;
        }
    }
    if (strncmp(rest, "alias/", 6) == 0) {
        kms_alias *a = find_alias(store, rest);
        if (a == NULL) {
            kms_fail(e, KMS_ERR_NOT_FOUND, "Alias %.300s is not found.", ref);
            return NULL;
        }
        rest = a->target;
    }
    kms_key *key = kms_key_id_valid(rest, strlen(rest)) ? find_id(store, rest) : NULL;
    if (key == NULL)
        kms_fail(e, KMS_ERR_NOT_FOUND, "Key '%.300s' does not exist", ref);
    return key;
}

kms_code kms_store_find(kms_store *store, const char *key_ref, kms_key *out, kms_error *e)
{
    pthread_mutex_lock(&store->lock);
    kms_key *key = resolve(store, key_ref, e);
    kms_code code = key == NULL ? e->code
                    : key_copy(key, out) != 0 ? kms_fail(e, KMS_ERR_INTERNAL, "out of memory")
                                              : KMS_ERR_OK;
    pthread_mutex_unlock(&store->lock);
    return code;
}

/* ---- changes: the file first, then memory ---------------------------------------------------- */

static void new_key_id(char out[KMS_KEY_ID_LEN + 1])
{
    uint8_t r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        memset(r, 0, sizeof(r)); /* the caller checks RAND first; this never runs */
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, KMS_KEY_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
}

kms_code kms_store_create_key(kms_store *store, const char *description, const char *policy,
                              const char *spec, const char *usage, kms_key *out, kms_error *e)
{
    kms_key key;
    memset(&key, 0, sizeof(key));
    bool asymmetric = spec != NULL && strcmp(spec, "SYMMETRIC_DEFAULT") != 0;
    snprintf(key.spec, sizeof(key.spec), "%s", asymmetric ? spec : "SYMMETRIC_DEFAULT");
    snprintf(key.usage, sizeof(key.usage), "%s", usage != NULL ? usage : "ENCRYPT_DECRYPT");
    nsmkit_error ge;
    if (asymmetric && (!kms_asym_usage_allowed(spec, key.usage) ||
                       kms_asym_generate(spec, &key.private_der, &key.private_len, &ge) != 0))
        return kms_fail(e, KMS_ERR_INTERNAL, "cannot make a %s key for %s", spec, key.usage);
    char default_policy[1024];
    if (policy == NULL) {
        kms_policy_default(store->account, default_policy, sizeof(default_policy));
        policy = default_policy;
    }
    if (RAND_bytes(key.material, sizeof(key.material)) != 1)
        return kms_fail(e, KMS_ERR_INTERNAL, "no random bytes for key material");
    new_key_id(key.id);
    key.creation_s = (int64_t)time(NULL);
    key.enabled = true;
    key.description = strdup(description != NULL ? description : "");
    key.policy = strdup(policy);
    if (key.description == NULL || key.policy == NULL) {
        kms_key_clear(&key);
        return kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    }
    kms_code code = KMS_ERR_OK;
    nsmkit_error fe;
    int rc;
    pthread_mutex_lock(&store->lock);
    if (store->key_count >= KMS_KEYS_MAX) {
        code = kms_fail(e, KMS_ERR_LIMIT_EXCEEDED, "this server holds its limit of %d keys",
                        KMS_KEYS_MAX);
    } else if (grow((void **)&store->keys, &store->key_cap, store->key_count, sizeof(kms_key)) != 0) {
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    } else if ((rc = key_save(store, &key, &fe)) != 0) {
        code = kms_fail(e, rc > 0 ? KMS_ERR_LIMIT_EXCEEDED : KMS_ERR_INTERNAL,
                        "cannot save the key: %s", fe.msg);
    } else if (key_copy(&key, out) != 0) {
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    } else {
        store->keys[store->key_count++] = key; /* the store takes key's allocations */
        pthread_mutex_unlock(&store->lock);
        return KMS_ERR_OK;
    }
    pthread_mutex_unlock(&store->lock);
    kms_key_clear(&key);
    return code;
}

/* Saves a changed copy of a stored key, then swaps it in. */
static kms_code key_replace(kms_store *store, kms_key *stored, kms_key *changed, kms_error *e)
{
    nsmkit_error fe;
    int rc = key_save(store, changed, &fe);
    if (rc != 0) {
        kms_key_clear(changed);
        return kms_fail(e, rc > 0 ? KMS_ERR_LIMIT_EXCEEDED : KMS_ERR_INTERNAL,
                        "cannot save the key: %s", fe.msg);
    }
    kms_key_clear(stored);
    *stored = *changed;
    return KMS_ERR_OK;
}

kms_code kms_store_put_policy(kms_store *store, const char *id, const char *policy, kms_error *e)
{
    pthread_mutex_lock(&store->lock);
    kms_key *stored = find_id(store, id);
    kms_key changed;
    kms_code code;
    if (stored == NULL) {
        code = kms_fail(e, KMS_ERR_NOT_FOUND, "Key '%s' does not exist", id);
    } else if (key_copy(stored, &changed) != 0) {
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    } else {
        free(changed.policy);
        changed.policy = strdup(policy);
        code = changed.policy == NULL ? (kms_key_clear(&changed),
                                         kms_fail(e, KMS_ERR_INTERNAL, "out of memory"))
                                      : key_replace(store, stored, &changed, e);
    }
    pthread_mutex_unlock(&store->lock);
    return code;
}

kms_code kms_store_set_enabled(kms_store *store, const char *id, bool enabled, kms_error *e)
{
    pthread_mutex_lock(&store->lock);
    kms_key *stored = find_id(store, id);
    kms_key changed;
    kms_code code;
    if (stored == NULL) {
        code = kms_fail(e, KMS_ERR_NOT_FOUND, "Key '%s' does not exist", id);
    } else if (key_copy(stored, &changed) != 0) {
        code = kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    } else {
        changed.enabled = enabled;
        code = key_replace(store, stored, &changed, e);
    }
    pthread_mutex_unlock(&store->lock);
    return code;
}

kms_code kms_store_create_alias(kms_store *store, const char *name, const char *target_id,
                                kms_error *e)
{
    kms_code code = KMS_ERR_OK;
    nsmkit_error fe;
    pthread_mutex_lock(&store->lock);
    if (find_alias(store, name) != NULL) {
        code = kms_fail(e, KMS_ERR_ALREADY_EXISTS, "An alias with the name arn:aws:kms:%s:%s:%s "
                        "already exists", store->region, store->account, name);
    } else if (find_id(store, target_id) == NULL) {
        code = kms_fail(e, KMS_ERR_NOT_FOUND, "Key '%s' does not exist", target_id);
    } else if (store->alias_count >= KMS_ALIASES_MAX ||
               grow((void **)&store->aliases, &store->alias_cap, store->alias_count,
                    sizeof(kms_alias)) != 0) {
        code = kms_fail(e, store->alias_count >= KMS_ALIASES_MAX ? KMS_ERR_LIMIT_EXCEEDED
                                                                 : KMS_ERR_INTERNAL,
                        "this server holds its limit of %d aliases (or is out of memory)",
                        KMS_ALIASES_MAX);
    } else {
        kms_alias *a = &store->aliases[store->alias_count];
        snprintf(a->name, sizeof(a->name), "%s", name);
        snprintf(a->target, sizeof(a->target), "%s", target_id);
        int rc = alias_save(store, a, &fe);
        if (rc > 0)
            code = kms_fail(e, KMS_ERR_LIMIT_EXCEEDED, "alias %s: %s", name, fe.msg);
        else if (rc < 0)
            code = kms_fail(e, KMS_ERR_INTERNAL, "cannot save the alias: %s", fe.msg);
        else
            store->alias_count++;
    }
    pthread_mutex_unlock(&store->lock);
    return code;
}

kms_code kms_store_list_keys(kms_store *store, char (**ids)[KMS_KEY_ID_LEN + 1], size_t *count,
                             kms_error *e)
{
    pthread_mutex_lock(&store->lock);
    size_t n = store->key_count;
    char(*copy)[KMS_KEY_ID_LEN + 1] = malloc((n + 1) * sizeof(*copy));
    if (copy != NULL)
        for (size_t i = 0; i < n; i++)
            memcpy(copy[i], store->keys[i].id, sizeof(copy[i]));
    pthread_mutex_unlock(&store->lock);
    if (copy == NULL)
        return kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    *ids = copy;
    *count = n;
    return KMS_ERR_OK;
}

kms_code kms_store_list_aliases(kms_store *store, kms_alias **aliases, size_t *count, kms_error *e)
{
    pthread_mutex_lock(&store->lock);
    size_t n = store->alias_count;
    kms_alias *copy = malloc((n + 1) * sizeof(*copy));
    if (copy != NULL && n > 0)
        memcpy(copy, store->aliases, n * sizeof(*copy));
    pthread_mutex_unlock(&store->lock);
    if (copy == NULL)
        return kms_fail(e, KMS_ERR_INTERNAL, "out of memory");
    *aliases = copy;
    *count = n;
    return KMS_ERR_OK;
}

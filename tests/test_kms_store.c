/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key store's probe findings (issue 22), one test each: state that grows past what a
 * start reads back (437 aliases of 250 characters once made the next start refuse the whole
 * directory), temporary files of interrupted writes left forever, and two servers on one
 * directory. Also: an aliases.json of earlier versions is migrated, and the time a start
 * takes with 10,000 keys and 10,000 aliases is measured (printed, never asserted).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../kms/store.h"

static kms_store *open_store(const char *dir)
{
    kms_store *store = NULL;
    nsmkit_error e;
    if (kms_store_open(dir, "us-east-1", "111122223333", &store, &e) != 0)
        fail_msg("kms_store_open: %s", e.msg);
    return store;
}

static void new_key(kms_store *store, char id[KMS_KEY_ID_LEN + 1])
{
    kms_key key;
    kms_error e;
    if (kms_store_create_key(store, "test", NULL, NULL, NULL, &key, &e) != KMS_ERR_OK)
        fail_msg("create key: %s", e.msg);
    memcpy(id, key.id, KMS_KEY_ID_LEN + 1);
    kms_key_clear(&key);
}

static size_t alias_count(kms_store *store)
{
    kms_alias *aliases = NULL;
    size_t count = 0;
    kms_error e;
    assert_int_equal(kms_store_list_aliases(store, &aliases, &count, &e), KMS_ERR_OK);
    free(aliases);
    return count;
}

static void test_many_long_aliases_reload(void **state)
{
    (void)state;
    char *dir = test_mkdtemp(), path[512], id[KMS_KEY_ID_LEN + 1];
    snprintf(path, sizeof(path), "%s/state", dir);
    kms_store *store = open_store(path);
    new_key(store, id);
    char name[KMS_ALIAS_NAME_MAX + 1];
    kms_error e;
    for (int i = 0; i < 500; i++) { /* the probe's 437 calls, and more */
        int n = snprintf(name, sizeof(name), "alias/%04d-", i);
        memset(name + n, 'x', 250 - (size_t)n);
        name[250] = '\0';
        if (kms_store_create_alias(store, name, id, &e) != KMS_ERR_OK)
            fail_msg("alias %d: %s", i, e.msg);
    }
    kms_store_close(store);
    store = open_store(path); /* every acknowledged alias reloads */
    assert_int_equal(alias_count(store), 500);
    kms_key key;
    assert_int_equal(kms_store_find(store, name, &key, &e), KMS_ERR_OK);
    kms_key_clear(&key);
    kms_store_close(store);
    test_rmdir(dir);
    free(dir);
}

static void test_a_write_too_large_to_reload_is_refused(void **state)
{
    (void)state;
    char *dir = test_mkdtemp(), path[512], id[KMS_KEY_ID_LEN + 1];
    snprintf(path, sizeof(path), "%s/state", dir);
    kms_store *store = open_store(path);
    new_key(store, id);
    /* control characters are written as \u00XX: 100,000 of them are 600,000 bytes */
    size_t n = 100000;
    char *policy = malloc(n + 1);
    memset(policy, 0x01, n);
    policy[n] = '\0';
    kms_error e;
    assert_int_equal(kms_store_put_policy(store, id, policy, &e), KMS_ERR_LIMIT_EXCEEDED);
    assert_non_null(strstr(e.msg, "reads back at start"));
    free(policy);
    kms_store_close(store);
    store = open_store(path); /* the refused write left the key as it was */
    kms_key key;
    assert_int_equal(kms_store_find(store, id, &key, &e), KMS_ERR_OK);
    assert_non_null(strstr(key.policy, "Enable IAM User Permissions"));
    kms_key_clear(&key);
    kms_store_close(store);
    test_rmdir(dir);
    free(dir);
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"half\": ", f);
    fclose(f);
    chmod(path, 0600);
}

static void test_temporary_files_removed_at_start(void **state)
{
    (void)state;
    char *dir = test_mkdtemp(), path[512], file[700], id[KMS_KEY_ID_LEN + 1];
    snprintf(path, sizeof(path), "%s/state", dir);
    kms_store *store = open_store(path);
    new_key(store, id);
    kms_store_close(store);
    snprintf(file, sizeof(file), "%s/keys/%s.json.tmp4242", path, id);
    touch(file);
    snprintf(file, sizeof(file), "%s/aliases/%s.json.tmp17", path, id);
    touch(file);
    snprintf(file, sizeof(file), "%s/aliases.json.tmp99", path);
    touch(file);
    snprintf(file, sizeof(file), "%s/notes.tmpx", path);
    touch(file);
    store = open_store(path);
    assert_int_equal(kms_store_temporaries_removed(store), 3);
    snprintf(file, sizeof(file), "%s/keys/%s.json.tmp4242", path, id);
    assert_int_equal(access(file, F_OK), -1);
    snprintf(file, sizeof(file), "%s/notes.tmpx", path);
    assert_int_equal(access(file, F_OK), 0); /* not a temporary file of ours */
    kms_store_close(store);
    test_rmdir(dir);
    free(dir);
}

static void test_one_server_per_directory(void **state)
{
    (void)state;
    char *dir = test_mkdtemp(), path[512];
    snprintf(path, sizeof(path), "%s/state", dir);
    kms_store *store = open_store(path), *second = NULL;
    nsmkit_error e;
    assert_int_equal(kms_store_open(path, "us-east-1", "111122223333", &second, &e), -1);
    assert_non_null(strstr(e.msg, "another nsm-kms serves this state directory"));
    kms_store_close(store);
    store = open_store(path); /* the lock went with the first */
    kms_store_close(store);
    test_rmdir(dir);
    free(dir);
}

static void test_legacy_aliases_file_migrated(void **state)
{
    (void)state;
    char *dir = test_mkdtemp(), path[512], file[700], id[KMS_KEY_ID_LEN + 1];
    snprintf(path, sizeof(path), "%s/state", dir);
    kms_store *store = open_store(path);
    new_key(store, id);
    kms_store_close(store);
    snprintf(file, sizeof(file), "%s/aliases.json", path);
    FILE *f = fopen(file, "w");
    fprintf(f, "{\"alias/old\": \"%s\"}", id);
    fclose(f);
    chmod(file, 0600);
    store = open_store(path);
    assert_int_equal(alias_count(store), 1);
    assert_int_equal(access(file, F_OK), -1);
    kms_store_close(store);
    store = open_store(path);
    kms_key key;
    kms_error ke;
    assert_int_equal(kms_store_find(store, "alias/old", &key, &ke), KMS_ERR_OK);
    kms_key_clear(&key);
    kms_store_close(store);
    test_rmdir(dir);
    free(dir);
}

/* 10,000 keys and 10,000 aliases written as files (the store's format), then one start. */
static void test_start_with_ten_thousand_keys_and_aliases(void **state)
{
    (void)state;
    char *dir = test_mkdtemp(), path[512], id[KMS_KEY_ID_LEN + 1];
    snprintf(path, sizeof(path), "%s/state", dir);
    kms_store *store = open_store(path);
    new_key(store, id);
    char name[64];
    kms_error e;
    snprintf(name, sizeof(name), "alias/seed");
    assert_int_equal(kms_store_create_alias(store, name, id, &e), KMS_ERR_OK);
    kms_store_close(store);
    char file[700], seed[700];
    snprintf(seed, sizeof(seed), "%s/keys/%s.json", path, id);
    size_t len = 0;
    uint8_t *key_text = test_read_file(seed, &len);
    for (int i = 1; i < KMS_KEYS_MAX; i++) {
        char other[KMS_KEY_ID_LEN + 1];
        snprintf(other, sizeof(other), "%08x-0000-4000-8000-000000000000", i);
        snprintf(file, sizeof(file), "%s/keys/%s.json", path, other);
        FILE *f = fopen(file, "w");
        char *text = strndup((const char *)key_text, len);
        char *at = strstr(text, id);
        memcpy(at, other, KMS_KEY_ID_LEN);
        fputs(text, f);
        fclose(f);
        chmod(file, 0600);
        free(text);
    }
    free(key_text);
    for (int i = 1; i < KMS_ALIASES_MAX; i++) {
        snprintf(name, sizeof(name), "alias/a%05d", i);
        uint8_t digest[32];
        unsigned int dn = 0;
        EVP_Digest(name, strlen(name), digest, &dn, EVP_sha256(), NULL);
        int at = snprintf(file, sizeof(file), "%s/aliases/", path);
        for (int b = 0; b < 32; b++)
            at += snprintf(file + at, sizeof(file) - (size_t)at, "%02x", digest[b]);
        snprintf(file + at, sizeof(file) - (size_t)at, ".json");
        FILE *f = fopen(file, "w");
        fprintf(f, "{\"AliasName\": \"%s\", \"TargetKeyId\": \"%s\"}", name, id);
        fclose(f);
        chmod(file, 0600);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    store = open_store(path);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(alias_count(store), KMS_ALIASES_MAX);
    print_message("measured: a start with %d keys and %d aliases took %.3f s\n", KMS_KEYS_MAX,
                  KMS_ALIASES_MAX,
                  (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    /* the limits are checked before anything is written or answered */
    assert_int_equal(kms_store_create_alias(store, "alias/one-too-many", id, &e),
                     KMS_ERR_LIMIT_EXCEEDED);
    kms_key extra;
    assert_int_equal(kms_store_create_key(store, "", NULL, NULL, NULL, &extra, &e), KMS_ERR_LIMIT_EXCEEDED);
    kms_store_close(store);
    test_rmdir(dir);
    free(dir);
}

/* An asymmetric key's pair survives a restart, byte for byte. */
static void test_asymmetric_keys_reload(void **state)
{
    (void)state;
    char *dir = test_mkdtemp(), path[512];
    snprintf(path, sizeof(path), "%s/state", dir);
    kms_store *store = open_store(path);
    kms_key made, found;
    kms_error e;
    if (kms_store_create_key(store, "ecc", NULL, "ECC_NIST_P384", "KEY_AGREEMENT", &made, &e) !=
        KMS_ERR_OK)
        fail_msg("create: %s", e.msg);
    assert_non_null(made.private_der);
    assert_int_equal(kms_store_create_key(store, "bad", NULL, "ECC_NIST_P256", "ENCRYPT_DECRYPT",
                                          &found, &e), KMS_ERR_INTERNAL);
    kms_store_close(store);
    store = open_store(path);
    assert_int_equal(kms_store_find(store, made.id, &found, &e), KMS_ERR_OK);
    assert_string_equal(found.spec, "ECC_NIST_P384");
    assert_string_equal(found.usage, "KEY_AGREEMENT");
    assert_int_equal(found.private_len, made.private_len);
    assert_memory_equal(found.private_der, made.private_der, made.private_len);
    kms_key_clear(&found);
    kms_key_clear(&made);
    kms_store_close(store);
    test_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_long_aliases_reload),
        cmocka_unit_test(test_a_write_too_large_to_reload_is_refused),
        cmocka_unit_test(test_temporary_files_removed_at_start),
        cmocka_unit_test(test_one_server_per_directory),
        cmocka_unit_test(test_legacy_aliases_file_migrated),
        cmocka_unit_test(test_asymmetric_keys_reload),
        cmocka_unit_test(test_start_with_ten_thousand_keys_and_aliases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

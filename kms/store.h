/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm-kms: keys, their policies and aliases, kept in memory and in a state directory:
 *
 *   DIR/keys/<key id>.json   {"KeyId", "Material" (base64 of 32 bytes), "CreationDate",
 *                             "Enabled", "Description", "Policy", and for asymmetric keys
 *                             "KeySpec", "KeyUsage", "PrivateKey" (base64 of PKCS#8 DER)}
 *   DIR/aliases/<SHA-256 of the alias name, hex>.json   {"AliasName", "TargetKeyId"}
 *   DIR/lock                 flock()ed by the one server that owns the directory
 *
 * The directory is created 0700, every file is written 0600 atomically (temporary file,
 * fsync, rename) before memory changes, so a restart keeps every key the server answered
 * for. A write whose file would be larger than what the start reads back is refused
 * (LimitExceededException) before anything is written, as are keys and aliases beyond
 * KMS_KEYS_MAX and KMS_ALIASES_MAX: a write the next start cannot read is never
 * acknowledged. At start, temporary files of interrupted writes (NAME.tmp<pid>) are removed
 * and an aliases.json of earlier versions is moved into one file per alias. Files open to
 * group or others, and files that do not parse, stop the server at start.
 *
 * Threads: every call takes the store's lock; what a lookup returns is a copy the caller
 * owns (kms_key_clear wipes and frees it).
 */
#ifndef NSMKIT_KMS_STORE_H
#define NSMKIT_KMS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsmkit/error.h"

#include "blob.h"
#include "errors.h"

#define KMS_DESCRIPTION_MAX 8192
#define KMS_ALIAS_NAME_MAX 256
#define KMS_KEYS_MAX 10000  /* per state directory: bounds memory and ListKeys */
#define KMS_ALIASES_MAX 10000

#define KMS_SPEC_MAX 24

typedef struct {
    char id[KMS_KEY_ID_LEN + 1];
    char spec[KMS_SPEC_MAX];   /* KeySpec: SYMMETRIC_DEFAULT, RSA_2048, ECC_NIST_P256, ... */
    char usage[KMS_SPEC_MAX];  /* KeyUsage: ENCRYPT_DECRYPT, SIGN_VERIFY, KEY_AGREEMENT */
    uint8_t material[KMS_KEY_MATERIAL_LEN]; /* symmetric keys */
    uint8_t *private_der;      /* owned: PKCS#8 of an asymmetric key; NULL for symmetric */
    size_t private_len;
    int64_t creation_s;
    bool enabled;
    char *description; /* owned, never NULL after a lookup */
    char *policy;      /* owned, never NULL after a lookup */
} kms_key;

typedef struct {
    char name[KMS_ALIAS_NAME_MAX + 1];
    char target[KMS_KEY_ID_LEN + 1];
} kms_alias;

typedef struct kms_store kms_store;

/* Opens (creating) the state directory and loads every key and alias. region and account
 * make ARNs. */
int kms_store_open(const char *dir, const char *region, const char *account, kms_store **out,
                   nsmkit_error *e) NSMKIT_WARN_UNUSED;
void kms_store_close(kms_store *store);
/* How many temporary files of interrupted writes kms_store_open removed. */
size_t kms_store_temporaries_removed(const kms_store *store);
const char *kms_store_region(const kms_store *store);
const char *kms_store_account(const kms_store *store);

void kms_key_clear(kms_key *key);
/* "arn:aws:kms:<region>:<account>:key/<id>" into out (size >= 128). */
void kms_store_key_arn(const kms_store *store, const char *id, char *out, size_t out_size);

/* A new key with fresh material; policy NULL gives KMS's default policy; spec NULL (or
 * SYMMETRIC_DEFAULT) a symmetric key, else an asymmetric key pair of that KeySpec (asym.h)
 * with usage. */
kms_code kms_store_create_key(kms_store *store, const char *description, const char *policy,
                              const char *spec, const char *usage, kms_key *out, kms_error *e);
/* Resolves a key id, key ARN, alias name or alias ARN and copies the key. */
kms_code kms_store_find(kms_store *store, const char *key_ref, kms_key *out, kms_error *e);
kms_code kms_store_put_policy(kms_store *store, const char *id, const char *policy, kms_error *e);
kms_code kms_store_set_enabled(kms_store *store, const char *id, bool enabled, kms_error *e);
kms_code kms_store_create_alias(kms_store *store, const char *name, const char *target_id,
                                kms_error *e);

/* Copies of every key id (creation order) and alias; caller frees the arrays. */
kms_code kms_store_list_keys(kms_store *store, char (**ids)[KMS_KEY_ID_LEN + 1], size_t *count,
                             kms_error *e);
kms_code kms_store_list_aliases(kms_store *store, kms_alias **aliases, size_t *count,
                                kms_error *e);

#endif /* NSMKIT_KMS_STORE_H */

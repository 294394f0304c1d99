/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the strict reader of KMS's CiphertextForRecipient that enclave
 * applications copy (examples/kms-recipient/cms_open.c), with this target's own RSA-1024 test
 * key (small, so that inputs that reach the decryption stay fast). Whatever the input, the
 * reader must not crash, must say why it refused, and what it accepts must be no longer than
 * the input. The example is compiled into the target, as an application compiles it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "../examples/kms-recipient/cms_open.c"
#include "fixture.h"

/* A key made for this target only (it protects nothing). */
static const char test_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIICdQIBADANBgkqhkiG9w0BAQEFAASCAl8wggJbAgEAAoGBALKdvp+UvraEYP0B\n"
    "mi/xRa8k/Iuu2eEGl7wuUz8825xekpPqIXG6/o9VXocPKvK9Z1i4eIKYC0QEc2jG\n"
    "HsCkddPqm/c7Ja0Bn5cISuTREHVZVqZ/IslAH231GNy5NY4YU2usmJFldXoAAiQB\n"
    "7KY4YOl1Oj8x8uVtKRFGAAZ99qNVAgMBAAECgYAayGKEBUbPkWwFpA7dr3z2dUJV\n"
    "I6PSBS4NbpjW+6YmfVvXSB05s4NmNLPW5qRW/6WWfRq84lWWHmC7zjFgS4jLPNHy\n"
    "UJC7qwYNipCCTxFGOG5Ui8a+RqdMfuojeOAPtScPmmB0GTKVZBlkOYBqT73cIdgN\n"
    "v29z+ZlfhVcD8hSSAQJBANzye75lokDQo3g7Uwz9zr9SB2C5agXabWgPKwIqnC/P\n"
    "4QujO6bWKPAzzGdwOlfXAjbyIor8Sr6vCMdMUo3T+4ECQQDO9AkwjPoCR/EtESK/\n"
    "u7ZRX9oEP8syhHvX3WyM06Z1vZa7HJtjHVWg/fr+/7i/odje+8SdPbzpKOiDHdoZ\n"
    "iuHVAkAhGK2SmrTQUrB5/SD2rDpBDG+QfJW2JL8IvGTr4SgePVxvmtb/qcreGFRB\n"
    "Fl2W9N0fD+w+t4YWxC9jczpWhm+BAkB2XgXTiw6Dt3ot+JsTZt3EdTpRK9ugrT3Y\n"
    "HYE0mumedi18H8SQT/rl9d5VcxXMJVnRT9cIyIMAKLG0LKLN8S1xAkBmfqpnfX8v\n"
    "npQDEb5IfW/7RZRte7gzcGx6iCLdVUDmVvZBG3plnzWebzeK8AgZ7SwyJgQZjwIg\n"
    "gq/tP8wsbQwB\n"
    "-----END PRIVATE KEY-----\n"
    ;

static EVP_PKEY *test_key(void)
{
    static EVP_PKEY *key;
    if (key == NULL) {
        BIO *bio = BIO_new_mem_buf(test_key_pem, -1);
        key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (key == NULL)
            fuzz_fail("fuzz_kms_cms", "the target's own key does not load");
    }
    return key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    char err[256];
    memset(err, 0, sizeof(err));
    if (cms_open(data, size, test_key(), &out, &out_len, err, sizeof(err)) == 0) {
        if (out_len > size)
            fuzz_fail("fuzz_kms_cms", "opened more bytes than the blob holds");
        free(out);
    } else if (out != NULL || err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL) {
        fuzz_fail("fuzz_kms_cms", "a refusal without a reason, or with output");
    }
    return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit eif: the signing certificate as nitro-cli's describe-eif shows it
 * (SigningCertificate: IssuerName, Algorithm, NotBefore, NotAfter, Signature). Used by the
 * signature check, which reads the certificate, and by describe, which prints it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "eif_internal.h"
#include "eif_json.h"

/* What Rust's `{:?}` of a str writes, with the quotes then removed (eif_utils'
 * format!("{:?}", data).replace('"', "")): backslash, quote and control characters
 * escaped, the quote's escape left as a lone backslash. */
static void rust_debug_unquoted(const unsigned char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 12 < cap; i++) {
        unsigned char c = s[i];
        if (c == '"')
            out[n++] = '\\';
        else if (c == '\\')
            out[n++] = '\\', out[n++] = '\\';
        else if (c == '\n' || c == '\r' || c == '\t')
            out[n++] = '\\', out[n++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        else if (c < 0x20 || c == 0x7f)
            n += (size_t)snprintf(out + n, cap - n, "\\u{%x}", c);
        else
            out[n++] = (char)c;
    }
    out[n] = 0;
}

static json_t *issuer_name(const X509 *cert)
{
    const X509_NAME *name = X509_get_issuer_name(cert);
    /* eif_utils collects the entries in a BTreeMap: sorted by name, the last one wins */
    json_t *map = json_object();
    for (int i = 0; map && i < X509_NAME_entry_count(name); i++) {
        const X509_NAME_ENTRY *entry = X509_NAME_get_entry(name, i);
        char key[128], value[1024];
        unsigned char *utf8 = NULL;
        OBJ_obj2txt(key, sizeof(key), X509_NAME_ENTRY_get_object(entry), 0);
        int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
        if (len < 0)
            snprintf(value, sizeof(value), "error"); /* as the openssl crate's Debug says */
        else
            rust_debug_unquoted(utf8, (size_t)len, value, sizeof(value));
        OPENSSL_free(utf8);
        json_object_set_new(map, key, json_string(value));
    }
    json_t *sorted = nsmeif_json_sorted(map);
    json_decref(map);
    return sorted;
}

static json_t *asn1_time_text(const ASN1_TIME *t)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char buf[64] = "";
    if (bio && ASN1_TIME_print(bio, t) == 1) {
        int n = BIO_read(bio, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = 0;
    }
    BIO_free(bio);
    return json_string(buf);
}

void *nsmeif_cert_info(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    if (!cert)
        return NULL;
    const ASN1_BIT_STRING *sig = NULL;
    const X509_ALGOR *alg = NULL;
    X509_get0_signature(&sig, &alg, cert);
    char algorithm[128] = "";
    const ASN1_OBJECT *oid = NULL;
    X509_ALGOR_get0(&oid, NULL, NULL, alg);
    OBJ_obj2txt(algorithm, sizeof(algorithm), oid, 0);
    size_t n = (size_t)ASN1_STRING_length(sig);
    char *hex = malloc(n * 3 + 1);
    json_t *info = json_object();
    if (hex && info) {
        size_t off = 0;
        hex[0] = 0;
        for (size_t i = 0; i < n; i++) /* "XX:XX:...", as eif_utils formats it */
            off += (size_t)snprintf(hex + off, 4, i ? ":%02X" : "%02X",
                                    ASN1_STRING_get0_data(sig)[i]);
        json_object_set_new(info, "IssuerName", issuer_name(cert));
        json_object_set_new(info, "Algorithm", json_string(algorithm));
        json_object_set_new(info, "NotBefore", asn1_time_text(X509_get0_notBefore(cert)));
        json_object_set_new(info, "NotAfter", asn1_time_text(X509_get0_notAfter(cert)));
        json_object_set_new(info, "Signature", json_string(hex));
    }
    free(hex);
    X509_free(cert);
    return info;
}

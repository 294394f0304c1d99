/*
 * nsmkit eif: `nitro-cli describe-eif`'s JSON, field for field (aws-nitro-enclaves-cli's
 * EifDescribeInfo, serialized by serde_json::to_string_pretty):
 *
 *   EifVersion, Measurements {HashAlgorithm, PCR0, PCR1, PCR2[, PCR8]}, IsSigned,
 *   [SigningCertificate {IssuerName, Algorithm, NotBefore, NotAfter, Signature}], CheckCRC,
 *   [SignatureCheck], ImageName, ImageVersion, Metadata {BuildTime, BuildTool,
 *   BuildToolVersion, OperatingSystem, KernelVersion, DockerInfo, ...CustomMetadata's keys}
 *
 * Values that are serde_json::Value (DockerInfo, CustomMetadata) print with sorted keys, as
 * serde_json's default map does; jansson's two-space indentation is serde's pretty format.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "nsmkit/hex.h"

#include "eif_internal.h"
#include "eif_json.h"

#define HASH_ALGORITHM "Sha384 { ... }" /* Rust's Debug of sha2::Sha384::new() */

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

static json_t *measurements(const nsmeif_image *image)
{
    json_t *m = json_object();
    char hex[2 * NSMEIF_PCR_LEN + 1];
    json_object_set_new(m, "HashAlgorithm", json_string(HASH_ALGORITHM));
    const uint8_t *pcrs[] = {image->pcr0, image->pcr1, image->pcr2, image->pcr8};
    const char *names[] = {"PCR0", "PCR1", "PCR2", "PCR8"};
    for (size_t i = 0; i < 4; i++) {
        if (i == 3 && !(image->is_signed && image->cert_ok))
            break;
        nsmkit_hex_encode(pcrs[i], NSMEIF_PCR_LEN, hex);
        json_object_set_new(m, names[i], json_string(hex));
    }
    return m;
}

static char *dump(json_t *root)
{
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (!text)
        return NULL;
    size_t len = strlen(text);
    char *out = realloc(text, len + 2);
    if (!out) {
        free(text);
        return NULL;
    }
    out[len] = '\n';
    out[len + 1] = 0;
    return out;
}

char *nsmeif_measurements_json(const nsmeif_image *image)
{
    if (!image->walked)
        return NULL;
    json_t *root = json_object();
    json_object_set_new(root, "Measurements", measurements(image));
    return dump(root);
}

/* Metadata: BuildMetadata's five fields, DockerInfo, then CustomMetadata's keys (serde's
 * flatten). */
static json_t *metadata_info(json_t *meta)
{
    static const char *const fields[] = {"BuildTime", "BuildTool", "BuildToolVersion",
                                         "OperatingSystem", "KernelVersion"};
    json_t *build = json_object_get(meta, "BuildMetadata");
    json_t *out = json_object();
    for (size_t k = 0; k < 5; k++)
        json_object_set(out, fields[k], json_object_get(build, fields[k]));
    json_object_set_new(out, "DockerInfo", nsmeif_json_sorted(json_object_get(meta, "DockerInfo")));
    json_t *custom = nsmeif_json_sorted(json_object_get(meta, "CustomMetadata"));
    const char *key;
    json_t *value;
    if (json_is_object(custom))
        json_object_foreach(custom, key, value) json_object_set(out, key, value);
    json_decref(custom);
    return out;
}

char *nsmeif_describe_json(const nsmeif_image *image)
{
    if (!image->walked)
        return NULL;
    json_t *root = json_object();
    json_object_set_new(root, "EifVersion", json_integer(image->version));
    json_object_set_new(root, "Measurements", measurements(image));
    json_object_set_new(root, "IsSigned", json_boolean(image->is_signed));
    if (image->is_signed && image->cert_info)
        json_object_set(root, "SigningCertificate", (json_t *)image->cert_info);
    json_object_set_new(root, "CheckCRC", json_boolean(image->crc_ok));
    if (image->is_signed)
        json_object_set_new(root, "SignatureCheck", json_boolean(image->signature_ok));
    nsmkit_error e;
    json_t *meta = nsmeif_metadata_parse(image->metadata, image->metadata_len, &e);
    if (meta) {
        json_object_set(root, "ImageName", json_object_get(meta, "ImageName"));
        json_object_set(root, "ImageVersion", json_object_get(meta, "ImageVersion"));
        json_object_set_new(root, "Metadata", metadata_info(meta));
        json_decref(meta);
    }
    return dump(root);
}

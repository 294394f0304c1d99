/* SPDX-License-Identifier: Apache-2.0 */
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

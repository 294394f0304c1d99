/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-kms: base64 (see base64.h). */
#include "base64.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static int is_alphabet(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

int kms_base64_decode(const char *text, size_t len, size_t max, uint8_t **out, size_t *out_len,
                      nsmkit_error *e)
{
    if (len % 4 != 0)
        return nsmkit_fail(e, "not base64: the length %zu is not a multiple of 4", len);
    /* the shape first, so OpenSSL's lenient decoder (whitespace, soft line ends) never
     * sees anything but canonical base64 */
    size_t pad = 0;
    if (len >= 1 && text[len - 1] == '=')
        pad++;
    if (len >= 2 && text[len - 2] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++)
        if (!is_alphabet(text[i]))
            return nsmkit_fail(e, "not base64: character %zu is outside the alphabet", i);
    size_t decoded = len / 4 * 3 - pad;
    if (decoded > max)
        return nsmkit_fail(e, "decodes to %zu bytes, over the limit of %zu", decoded, max);
    if (len > INT32_MAX)
        return nsmkit_fail(e, "not base64: too long");
    uint8_t *buf = malloc(len / 4 * 3 + 1); /* owned until returned */
    if (buf == NULL)
        return nsmkit_fail(e, "out of memory");
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new(); /* owned */
    int n = 0, tail = 0;
    if (ctx == NULL) {
        free(buf);
        return nsmkit_fail(e, "out of memory");
    }
    EVP_DecodeInit(ctx);
    int ok = EVP_DecodeUpdate(ctx, buf, &n, (const unsigned char *)text, (int)len) >= 0 &&
             EVP_DecodeFinal(ctx, buf + n, &tail) == 1 && (size_t)(n + tail) == decoded;
    EVP_ENCODE_CTX_free(ctx);
    if (!ok) {
        free(buf);
        return nsmkit_fail(e, "not base64: misplaced padding");
    }
    *out = buf;
    *out_len = decoded;
    return 0;
}

char *kms_base64_encode(const uint8_t *data, size_t len)
{
    if (len > (size_t)INT32_MAX / 2)
        return NULL;
    char *text = malloc((len + 2) / 3 * 4 + 1);
    if (text == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)text, data, (int)len);
    return text;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The minimal client of AWS's blog post "Validating attestation documents produced by AWS
 * Nitro Enclaves", written afresh: initialise the NSM library, ask for an attestation
 * document with no user data, nonce or public key into a 16 KiB buffer, and print it as
 * hex. It uses only the official library's C API (nsm.h), so it builds unchanged against
 * the official header and against nsmkit's drop-in one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <nsm.h>

#define DOCUMENT_CAPACITY (16 * 1024)

int main(void)
{
    int32_t fd = nsm_lib_init();
    if (fd < 0) {
        fprintf(stderr, "blog_client: nsm_lib_init failed\n");
        return 1;
    }
    static uint8_t document[DOCUMENT_CAPACITY];
    uint32_t length = sizeof(document);
    ErrorCode status =
        nsm_get_attestation_doc(fd, NULL, 0, NULL, 0, NULL, 0, document, &length);
    if (status != ERROR_CODE_SUCCESS) {
        fprintf(stderr, "blog_client: Attestation request failed with error code %d\n",
                (int)status);
        nsm_lib_exit(fd);
        return 1;
    }
    for (uint32_t i = 0; i < length; i++)
        printf("%02X", document[i]);
    printf("\n");
    nsm_lib_exit(fd);
    return 0;
}

/*
 * nitro_cli_attest: the enclave application of tests/it_nitro_cli_boot.sh, built -static with
 * libc only. It asks /dev/nsm for an attestation document through NSM_IOCTL_RAW (the request
 * bytes of NSM-FACTS section 2, all fields null), prints the document in hex between two
 * markers on the console, and then stays up until the enclave is terminated.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "nsmkit/nsm_abi.h"

static const uint8_t request[] = {
    0xa1, 0x6b, 'A', 't', 't', 'e', 's', 't', 'a', 't', 'i', 'o', 'n', 0xa3, 0x69, 'u', 's',
    'e', 'r', '_', 'd', 'a', 't', 'a', 0xf6, 0x65, 'n', 'o', 'n', 'c', 'e', 0xf6, 0x6a, 'p',
    'u', 'b', 'l', 'i', 'c', '_', 'k', 'e', 'y', 0xf6};
/* {"Attestation": {"document": ...}} up to the byte string's head */
static const uint8_t prefix[] = {0xa1, 0x6b, 'A', 't', 't', 'e', 's', 't', 'a', 't', 'i',
                                 'o', 'n', 0xa1, 0x68, 'd', 'o', 'c', 'u', 'm', 'e', 'n', 't'};

int main(void)
{
    static uint8_t response[16384];
    int fd = open("/dev/nsm", O_RDWR);
    if (fd < 0) {
        perror("nitro_cli_attest: /dev/nsm");
        return 1;
    }
    struct nsm_raw raw = {{(uint64_t)(uintptr_t)request, sizeof(request)},
                          {(uint64_t)(uintptr_t)response, sizeof(response)}};
    if (ioctl(fd, NSM_IOCTL_RAW, &raw) != 0) {
        perror("nitro_cli_attest: NSM_IOCTL_RAW");
        return 1;
    }
    size_t n = (size_t)raw.response.len, p = sizeof(prefix), len = 0;
    if (n > sizeof(response) || n < p + 3 || memcmp(response, prefix, p) != 0) {
        fprintf(stderr, "nitro_cli_attest: not an attestation response (%zu bytes)\n", n);
        return 1;
    }
    if (response[p] == 0x59)
        len = (size_t)response[p + 1] << 8 | response[p + 2], p += 3;
    else if (response[p] == 0x58)
        len = response[p + 1], p += 2;
    if (len == 0 || len > n - p) {
        fprintf(stderr, "nitro_cli_attest: a document of an unexpected size\n");
        return 1;
    }
    printf("NSMKIT-DOC-BEGIN ");
    for (size_t i = 0; i < len; i++)
        printf("%02x", response[p + i]);
    printf(" NSMKIT-DOC-END\n");
    fflush(stdout);
    for (;;)
        pause();
}

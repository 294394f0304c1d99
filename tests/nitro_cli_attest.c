/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nitro_cli_attest: the enclave application of tests/nitro_cli_boot.sh, built -static with
 * libc only. It asks /dev/nsm for an attestation document through NSM_IOCTL_RAW (the request
 * bytes of NSM-FACTS section 2, all fields null), prints the document in hex between two
 * markers on the console, and then stays up until the enclave is terminated.
 *
 *   nitro_cli_attest [--send CID PORT [KMS_PORT]]
 *
 * With --send it also sends the same line to its parent (CID 3) on PORT over vsock, after
 * proving that /dev/vsock's local CID is CID, the one the emulated network gave this enclave
 * (the project's vsock rule: never connect before the emulation is proven); with KMS_PORT it
 * then asks KMS for ListKeys through the parent's vsock-proxy on (3, KMS_PORT) and prints
 * "KMS <the answer's last line>".
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>
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

static int vsock_to_parent(unsigned port)
{
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm to = {.svm_family = AF_VSOCK, .svm_cid = 3, .svm_port = port};
    if (s >= 0 && connect(s, (struct sockaddr *)&to, sizeof(to)) == 0)
        return s;
    perror("nitro_cli_attest: vsock to the parent");
    if (s >= 0)
        close(s);
    return -1;
}

/* ListKeys through the parent's vsock-proxy (a well-formed SigV4 header, zero signature:
 * nsm-kms without credentials checks the form only). */
static void kms_list_keys(unsigned port)
{
    static const char kms_request[] =
        "POST / HTTP/1.1\r\nHost: kms\r\nX-Amz-Target: TrentService.ListKeys\r\n"
        "X-Amz-Date: 20261207T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 "
        "Credential=AKIDEXAMPLE/20261207/us-east-1/kms/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-target, Signature="
        "0000000000000000000000000000000000000000000000000000000000000000\r\n"
        "Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n"
        "Connection: close\r\n\r\n{}";
    static char answer[8192];
    size_t got = 0;
    ssize_t n;
    int s = vsock_to_parent(port);
    if (s < 0 || write(s, kms_request, sizeof(kms_request) - 1) !=
                      (ssize_t)(sizeof(kms_request) - 1))
        return;
    while (got < sizeof(answer) - 1 && (n = read(s, answer + got, sizeof(answer) - 1 - got)) > 0)
        got += (size_t)n;
    close(s);
    answer[got] = '\0';
    while (got > 0 && (answer[got - 1] == '\n' || answer[got - 1] == '\r'))
        answer[--got] = '\0';
    const char *last = strrchr(answer, '\n');
    printf("KMS %s\n", last ? last + 1 : answer);
}

/* The document line to the parent over vsock, once the local CID is the expected one. */
static int send_to_parent(const char *line, size_t len, unsigned expected_cid, unsigned port)
{
    unsigned cid = 0;
    int dev = open("/dev/vsock", O_RDONLY);
    if (dev < 0 || ioctl(dev, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) != 0 || cid != expected_cid) {
        fprintf(stderr, "nitro_cli_attest: local CID %u, not %u: not sending\n", cid,
                expected_cid);
        return 1;
    }
    close(dev);
    int s = vsock_to_parent(port);
    if (s < 0)
        return 1;
    if (write(s, line, len) != (ssize_t)len) {
        perror("nitro_cli_attest: write to the parent");
        close(s);
        return 1;
    }
    close(s);
    printf("NSMKIT-SENT-TO-PARENT %u\n", port);
    return 0;
}

int main(int argc, char **argv)
{
    static uint8_t response[16384];
    static char line[40000];
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
    size_t used = (size_t)snprintf(line, sizeof(line), "NSMKIT-DOC-BEGIN ");
    for (size_t i = 0; i < len && used + 3 < sizeof(line); i++)
        used += (size_t)snprintf(line + used, sizeof(line) - used, "%02x", response[p + i]);
    used += (size_t)snprintf(line + used, sizeof(line) - used, " NSMKIT-DOC-END\n");
    fputs(line, stdout);
    fflush(stdout);
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "--send") == 0 &&
        send_to_parent(line, used, (unsigned)strtoul(argv[2], NULL, 10),
                       (unsigned)strtoul(argv[3], NULL, 10)) == 0 &&
        argc == 5)
        kms_list_keys((unsigned)strtoul(argv[4], NULL, 10));
    fflush(stdout);
    for (;;)
        pause();
}

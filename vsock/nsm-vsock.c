/*
 * nsmkit: nsm-vsock, AF_VSOCK without a vsock. One line per subcommand here; each lives in
 * its own file (vhost-user: vhost_cmd.c).
 */
#include <stdio.h>
#include <string.h>

#include "nsmkit/vhost_cmd.h"

static int usage(FILE *f, int status)
{
    fputs("usage: nsm-vsock vhost-user --socket PATH --cid N [--dir DIR]\n"
          "\n"
          "vhost-user  a vhost-user backend that gives a QEMU guest a vsock on the network DIR\n", f);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, 2);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return usage(stdout, 0);
    if (!strcmp(argv[1], "--version")) {
        puts("nsm-vsock (nsmkit)");
        return 0;
    }
    if (!strcmp(argv[1], "vhost-user"))
        return nsm_vsock_vhost_user_main(argc - 1, argv + 1);
    fprintf(stderr, "nsm-vsock: unknown command %s\n", argv[1]);
    return usage(stderr, 2);
}

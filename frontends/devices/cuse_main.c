/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest build of nsm-sim: only `nsm-sim cuse`, linked statically, with no libcbor or
 * OpenSSL (the guest forwards bytes; the NSM and its keys stay on the host).
 */
#include <stdio.h>
#include <string.h>

#include "cuse.h"
#include "nsmkit/opts.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "cuse") == 0)
        return nsmsim_cmd_cuse(argc - 2, argv + 2);
    bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        nsmkit_opts_version("nsm-sim (guest build)", stdout);
        return 0;
    }
    fprintf(help ? stdout : stderr, "nsm-sim: this is the guest build, which has only `nsm-sim cuse`\n"
                    "usage: nsm-sim cuse (--port PATH|auto | --socket PATH) [--name NAME]"
                    " [--background]\n");
    return help ? 0 : 2;
}

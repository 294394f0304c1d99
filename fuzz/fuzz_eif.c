/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the EIF reader (eif/reader.c, signature.c, metadata.c) on an image held in
 * a memory file, as nsm-eif describe reads one. Whatever the input: a code from the table, the
 * data callback sees each section's bytes exactly once and never more than the file holds,
 * and a sound image is walked, checksummed, described, and signed only with a signature that
 * verifies over its own PCR0.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nsmkit/eif.h"
#include "fixture.h"

typedef struct {
    uint64_t seen[NSMEIF_MAX_SECTIONS];
    uint64_t total;
} counted;

static int count(void *ctx, unsigned index, const nsmeif_section *s, const uint8_t *data,
                 size_t len)
{
    counted *c = ctx;
    (void)data;
    if (index >= NSMEIF_MAX_SECTIONS || len == 0 || len > s->size - c->seen[index])
        fuzz_fail("fuzz_eif", "a data callback outside its section");
    c->seen[index] += len;
    c->total += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0 && (fd = memfd_create("fuzz_eif", MFD_CLOEXEC)) < 0)
        fuzz_fail("fuzz_eif", "memfd_create");
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size) ||
        lseek(fd, 0, SEEK_SET) != 0)
        fuzz_fail("fuzz_eif", "the memory file");
    counted c;
    memset(&c, 0, sizeof(c));
    nsmeif_image image;
    nsmeif_code code = nsmeif_read_fd(fd, &image, count, &c);
    if (!nsmeif_code_name(code) || code != image.code || nsmeif_code_exit(code) == 2)
        fuzz_fail("fuzz_eif", "an unknown code, or an I/O error on a memory file");
    if (c.total > size)
        fuzz_fail("fuzz_eif", "more data than the file holds");
    if (code == NSMEIF_ERR_OK) {
        char *json = nsmeif_describe_json(&image);
        if (!image.walked || !image.crc_ok || !json || (image.is_signed && !image.signature_ok))
            fuzz_fail("fuzz_eif", "a sound image not walked, checksummed, described or verified");
        for (unsigned i = 0; i < image.num_sections; i++)
            if (c.seen[i] != image.sections[i].size)
                fuzz_fail("fuzz_eif", "a section's data not seen whole");
        free(json);
    }
    nsmeif_image_free(&image);
    return 0;
}

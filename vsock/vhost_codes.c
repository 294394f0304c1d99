/* SPDX-License-Identifier: Apache-2.0 */
/* nsmkit vsock guest side: names and sentences of the numbered errors (vhost_codes.h). */
#include "nsmkit/vhost_codes.h"

#include <stddef.h>

const char *vhost_code_name(int code)
{
    switch (code) {
#define VHOST_CODE_NAME(name, number, sentence) \
    case number: return #name;
        VHOST_CODES(VHOST_CODE_NAME)
#undef VHOST_CODE_NAME
    }
    return NULL;
}

const char *vhost_code_sentence(int code)
{
    switch (code) {
#define VHOST_CODE_SENTENCE(name, number, sentence) \
    case number: return sentence;
        VHOST_CODES(VHOST_CODE_SENTENCE)
#undef VHOST_CODE_SENTENCE
    }
    return NULL;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsm.h - nsmkit's drop-in for the C API of AWS's official Nitro Secure Module library
 * (aws-nitro-enclaves-nsm-api, nsm-lib). Same function names and signatures, the same
 * ErrorCode and Digest values and the same NsmDescription layout, so a program written
 * against the official header builds against this one and links against nsmkit's libnsm:
 *
 *     cc app.c -Ibuild/include -Lbuild/lib -lnsm          (run with LD_LIBRARY_PATH=build/lib,
 *                                                          or add -Wl,-rpath,build/lib)
 *     cc app.c -Ibuild/include build/lib/libnsm.a -lcbor -lcrypto -pthread   (static)
 *
 * nsm_lib_init() opens /dev/nsm as the official library does, so under `nsm-sim exec`
 * (or the LD_PRELOAD shim) every call goes through the simulated device. When there is no
 * /dev/nsm at all (ENOENT) it boots a simulated NSM inside the process instead (state options
 * from NSM_SIM_CA, NSM_SIM_TIME, NSM_SIM_PCR, NSM_SIM_MEASUREMENTS, NSM_SIM_DEBUG_MODE,
 * NSM_SIM_MAP); NSM_SIM_REQUIRE_DEVICE=1 forbids that fallback, and nsm_lib_init() then
 * returns -1 like the official library.
 *
 * Every function takes the descriptor nsm_lib_init() returned. Lengths are capacities on
 * input and sizes on output; BUFFER_TOO_SMALL means the output was truncated to the
 * capacity.
 */
#ifndef NSM_LIB_H
#define NSM_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* The digest of the PCR bank. */
typedef enum {
    DIGEST_SHA256 = 0,
    DIGEST_SHA384 = 1,
    DIGEST_SHA512 = 2,
} Digest;

/* Status of every operation; the NSM's own errors and the library's. */
typedef enum {
    ERROR_CODE_SUCCESS = 0,
    ERROR_CODE_INVALID_ARGUMENT = 1,  /* e.g. NULL data */
    ERROR_CODE_INVALID_INDEX = 2,     /* PCR index out of range */
    ERROR_CODE_INVALID_RESPONSE = 3,  /* the answer does not match the request */
    ERROR_CODE_READ_ONLY_INDEX = 4,   /* extend or lock of a locked PCR */
    ERROR_CODE_INVALID_OPERATION = 5, /* malformed request */
    ERROR_CODE_BUFFER_TOO_SMALL = 6,  /* output truncated to the given capacity */
    ERROR_CODE_INPUT_TOO_LARGE = 7,   /* request over 4 KiB */
    ERROR_CODE_INTERNAL_ERROR = 8,    /* device failure, or an answer that does not decode */
} ErrorCode;

typedef struct {
    uint16_t version_major;
    uint16_t version_minor;
    uint16_t version_patch;
    uint8_t module_id[100]; /* NUL-terminated, at most 99 bytes kept */
    uint32_t module_id_len;
    uint16_t max_pcrs;
    uint16_t locked_pcrs[64];
    uint32_t locked_pcrs_len;
    Digest digest;
} NsmDescription;

#ifdef __cplusplus
extern "C" {
#endif

/* Opens the NSM; returns a descriptor, or -1. */
int32_t nsm_lib_init(void);
/* Closes a descriptor from nsm_lib_init(). */
void nsm_lib_exit(int32_t fd);

/* PCR[index] := SHA384(PCR[index] || data); the new value goes to pcr_data. */
ErrorCode nsm_extend_pcr(int32_t fd, uint16_t index, const uint8_t *data, uint32_t data_len,
                         uint8_t *pcr_data, uint32_t *pcr_data_len);
/* The value and lock state of PCR[index]. */
ErrorCode nsm_describe_pcr(int32_t fd, uint16_t index, bool *lock, uint8_t *data,
                           uint32_t *data_len);
ErrorCode nsm_lock_pcr(int32_t fd, uint16_t index);
/* Locks PCRs [0, range). */
ErrorCode nsm_lock_pcrs(int32_t fd, uint16_t range);
ErrorCode nsm_get_description(int32_t fd, NsmDescription *nsm_description);
/* A signed attestation document. NULL user_data, nonce or public key leave the field out
 * (null); a non-NULL pointer with length 0 includes an empty one. */
ErrorCode nsm_get_attestation_doc(int32_t fd, const uint8_t *user_data, uint32_t user_data_len,
                                  const uint8_t *nonce_data, uint32_t nonce_len,
                                  const uint8_t *pub_key_data, uint32_t pub_key_len,
                                  uint8_t *att_doc_data, uint32_t *att_doc_len);
/* Up to *buf_len random bytes (the NSM returns 256 at a time). */
ErrorCode nsm_get_random(int32_t fd, uint8_t *buf, uintptr_t *buf_len);

#ifdef __cplusplus
}
#endif

#endif /* NSM_LIB_H */

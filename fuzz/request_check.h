/* SPDX-License-Identifier: Apache-2.0 */
/* What every NSM answer must be, whatever the request: well-formed CBOR of bounded size
 * that the official client's decoder reads as a Response (a success or an NSM error). */
#ifndef NSMKIT_FUZZ_REQUEST_CHECK_H
#define NSMKIT_FUZZ_REQUEST_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* Sends one request to sim and checks the answer; aborts (a finding) when it breaks the
 * rule above. */
struct nsmsim;
void fuzz_request_one(const char *target, struct nsmsim *sim, const uint8_t *req, size_t len);
/* Checks an answer already produced. */
void fuzz_check_response(const char *target, const uint8_t *resp, size_t len);

#endif

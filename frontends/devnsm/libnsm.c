/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The drop-in libnsm: the official NSM library's C API (frontends/devnsm/nsm.h) with its
 * behaviour, on top of /dev/nsm or, when there is none, a simulated NSM in the process.
 *
 * Behaviour kept from the official library: requests are encoded as its serde_cbor does;
 * a request over 0x1000 bytes is refused before the ioctl (InputTooLarge); the ioctl gets
 * a 0x3000-byte response buffer; errno EMSGSIZE -> InputTooLarge, any other errno or a
 * response that does not decode -> InternalError; a valid response of the wrong kind ->
 * InvalidResponse; NSM errors are returned as they came; outputs are truncated to the
 * caller's capacity with BufferTooSmall. Where the official library would crash (a NULL
 * length pointer, more than 64 locked PCRs) this one returns an error instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "codec.h"
#include "frontends/transports/device.h"
#include "frontends/transports/envopts.h"
#include "frontends/transports/log.h"
#include "nsm.h"
#include "nsmkit/fault.h"
#include "nsmkit/error.h"
#include "nsmkit/buf.h"
#include "nsmkit/sim.h"

_Static_assert(sizeof(ErrorCode) == 4 && sizeof(Digest) == 4, "C enums are int-sized");
_Static_assert(ERROR_CODE_INTERNAL_ERROR == (int)NSMSIM_INTERNAL_ERROR &&
                   ERROR_CODE_INPUT_TOO_LARGE == (int)NSMSIM_INPUT_TOO_LARGE,
               "the ErrorCode values are the core's");

/* ---- the in-process NSM ----------------------------------------------------------------- */

static pthread_mutex_t inproc_lock = PTHREAD_MUTEX_INITIALIZER;
static nsmsim *inproc_sim;
static nsmsim_env_storage inproc_env;
static bool inproc_failed;

/* Boots once per process; the state lives as long as the process, as a device's does
 * across close and open. */
static nsmsim *inproc_get(void)
{
    pthread_mutex_lock(&inproc_lock);
    if (!inproc_sim && !inproc_failed) {
        nsmsim_options options;
        nsmkit_error e;
        nsmsim_options_init(&options);
        if (nsmsim_options_from_env(&options, &inproc_env, &e) != 0 ||
            nsmfault_sim_new(&options, &inproc_sim, &e) != 0) {
            inproc_failed = true;
            inproc_sim = NULL;
            nsmsim_log_line("libnsm", "cannot start the in-process NSM simulator: %s", e.msg);
        }
    }
    nsmsim *sim = inproc_sim;
    pthread_mutex_unlock(&inproc_lock);
    return sim;
}

int32_t nsm_lib_init(void)
{
    int fd = open("/dev/nsm", O_RDWR | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    int err = errno;
    /* Only a missing device is simulated: a device that exists but cannot be opened (no
     * permission, a shim that failed to start) must not be quietly replaced by a fake. */
    if (err != ENOENT)
        return -1;
    if (nsmsim_env_flag("NSM_SIM_REQUIRE_DEVICE")) {
        nsmsim_log_line("libnsm", "cannot open /dev/nsm: %s (NSM_SIM_REQUIRE_DEVICE is set)",
                        strerror(err));
        errno = err;
        return -1;
    }
    if (!inproc_get())
        return -1;
    return nsmsim_devfd_create(NSMSIM_DEVFD_LIBNSM, O_CLOEXEC);
}

void nsm_lib_exit(int32_t fd)
{
    close(fd);
}

/* ---- one request ------------------------------------------------------------------------ */

static ErrorCode roundtrip(int32_t fd, const nsmkit_buf *req, nsmsim_api_response *resp)
{
    uint8_t out[NSM_RESPONSE_MAX_SIZE];
    size_t out_len = 0;
    if (req->err)
        return ERROR_CODE_INTERNAL_ERROR; /* out of memory: sizes were checked before */
    if (req->len > NSM_REQUEST_MAX_SIZE)
        return ERROR_CODE_INPUT_TOO_LARGE;
    bool trace = nsmsim_env_flag("NSM_SIM_TRACE");
    if (nsmsim_devfd_kind_of(fd) == NSMSIM_DEVFD_LIBNSM) {
        nsmsim *sim = inproc_get();
        nsmsim_outcome o = {0};
        if (!sim || nsmsim_handle_traced(sim, req->data, req->len, out, &out_len, &o) != 0)
            return ERROR_CODE_INTERNAL_ERROR;
        if (trace)
            nsmsim_log_line("libnsm", "in-process NSM: %zu-byte request, %zu-byte response (%d %s%s%s)",
                            req->len, out_len, (int)o.code, nsmsim_code_name(o.code),
                            o.detail[0] ? ": " : "", o.detail);
    } else {
        struct nsm_raw raw = {
            .request = {.addr = (uint64_t)(uintptr_t)req->data, .len = req->len},
            .response = {.addr = (uint64_t)(uintptr_t)out, .len = sizeof(out)},
        };
        if (ioctl(fd, NSM_IOCTL_RAW, &raw) != 0) {
            /* errno becomes an ErrorCode as in the official library; the cause stays in
             * the trace */
            int err = errno;
            ErrorCode code = err == EMSGSIZE ? ERROR_CODE_INPUT_TOO_LARGE : ERROR_CODE_INTERNAL_ERROR;
            if (trace)
                nsmsim_log_line("libnsm", "ioctl(NSM_IOCTL_RAW) on fd %d: %s -> %s", (int)fd,
                                strerror(err), nsmsim_error_code_name((nsmsim_error_code)code));
            return code;
        }
        out_len = raw.response.len > sizeof(out) ? sizeof(out) : (size_t)raw.response.len;
    }
    if (nsmsim_api_response_decode(out, out_len, resp) != 0)
        return ERROR_CODE_INTERNAL_ERROR;
    return ERROR_CODE_SUCCESS;
}

/* Sends req and expects a response of kind want; NSM errors come back as themselves. */
static ErrorCode request(int32_t fd, nsmkit_buf *req, nsmsim_api_response_kind want,
                         nsmsim_api_response *resp)
{
    ErrorCode r = roundtrip(fd, req, resp);
    nsmkit_buf_free(req);
    if (r != ERROR_CODE_SUCCESS)
        return r;
    if (resp->kind == NSMSIM_RESP_ERROR) {
        r = (ErrorCode)resp->error;
        nsmsim_api_response_free(resp);
        return r;
    }
    if (resp->kind != want) {
        nsmsim_api_response_free(resp);
        return ERROR_CODE_INVALID_RESPONSE;
    }
    return ERROR_CODE_SUCCESS;
}

/* The official library's rule for output buffers. */
static ErrorCode copy_out(const uint8_t *src, size_t n, uint8_t *out, uint32_t *out_len)
{
    if (!out) {
        *out_len = 0;
        return ERROR_CODE_BUFFER_TOO_SMALL;
    }
    ErrorCode r = *out_len >= n ? ERROR_CODE_SUCCESS : ERROR_CODE_BUFFER_TOO_SMALL;
    if (*out_len > n)
        *out_len = (uint32_t)n;
    if (*out_len)
        memcpy(out, src, *out_len);
    return r;
}

/* A request whose answer is one byte string (ExtendPCR's data, Attestation's document),
 * copied out by the rule above. */
static ErrorCode request_bytes(int32_t fd, nsmkit_buf *req, nsmsim_api_response_kind want,
                               uint8_t *out, uint32_t *out_len)
{
    nsmsim_api_response resp;
    ErrorCode r = request(fd, req, want, &resp);
    if (r != ERROR_CODE_SUCCESS)
        return r;
    r = copy_out(resp.bytes, resp.bytes_len, out, out_len);
    nsmsim_api_response_free(&resp);
    return r;
}

/* A request without arguments (DescribeNSM, GetRandom), from the message table. */
static ErrorCode request_unit(int32_t fd, nsmsim_request_id id, nsmsim_api_response_kind want,
                              nsmsim_api_response *resp)
{
    nsmsim_request q = {.id = id};
    nsmkit_buf req;
    nsmkit_buf_init(&req, NSM_REQUEST_MAX_SIZE);
    nsmsim_request_encode(&q, &req);
    return request(fd, &req, want, resp);
}

/* ---- the API ------------------------------------------------------------------------------ */

ErrorCode nsm_extend_pcr(int32_t fd, uint16_t index, const uint8_t *data, uint32_t data_len,
                         uint8_t *pcr_data, uint32_t *pcr_data_len)
{
    if (!data || !pcr_data_len)
        return ERROR_CODE_INVALID_ARGUMENT;
    if (nsmsim_api_extend_pcr_size(index, data_len) > NSM_REQUEST_MAX_SIZE)
        return ERROR_CODE_INPUT_TOO_LARGE;
    nsmkit_buf req;
    nsmkit_buf_init(&req, NSM_REQUEST_MAX_SIZE);
    nsmsim_api_encode_extend_pcr(&req, index, data, data_len);
    return request_bytes(fd, &req, NSMSIM_RESP_EXTEND_PCR, pcr_data, pcr_data_len);
}

ErrorCode nsm_describe_pcr(int32_t fd, uint16_t index, bool *lock, uint8_t *data,
                           uint32_t *data_len)
{
    if (!lock || !data_len)
        return ERROR_CODE_INVALID_ARGUMENT;
    nsmkit_buf req;
    nsmkit_buf_init(&req, NSM_REQUEST_MAX_SIZE);
    nsmsim_api_encode_describe_pcr(&req, index);
    nsmsim_api_response resp;
    ErrorCode r = request(fd, &req, NSMSIM_RESP_DESCRIBE_PCR, &resp);
    if (r != ERROR_CODE_SUCCESS)
        return r;
    *lock = resp.lock;
    r = copy_out(resp.bytes, resp.bytes_len, data, data_len);
    nsmsim_api_response_free(&resp);
    return r;
}

static ErrorCode lock_request(int32_t fd, bool range, uint16_t value)
{
    nsmkit_buf req;
    nsmkit_buf_init(&req, NSM_REQUEST_MAX_SIZE);
    if (range)
        nsmsim_api_encode_lock_pcrs(&req, value);
    else
        nsmsim_api_encode_lock_pcr(&req, value);
    nsmsim_api_response resp;
    ErrorCode r = request(fd, &req, range ? NSMSIM_RESP_LOCK_PCRS : NSMSIM_RESP_LOCK_PCR, &resp);
    if (r == ERROR_CODE_SUCCESS)
        nsmsim_api_response_free(&resp);
    return r;
}

ErrorCode nsm_lock_pcr(int32_t fd, uint16_t index)
{
    return lock_request(fd, false, index);
}

ErrorCode nsm_lock_pcrs(int32_t fd, uint16_t range)
{
    return lock_request(fd, true, range);
}

ErrorCode nsm_get_description(int32_t fd, NsmDescription *nsm_description)
{
    if (!nsm_description)
        return ERROR_CODE_INVALID_ARGUMENT;
    nsmsim_api_response resp;
    ErrorCode r = request_unit(fd, NSMSIM_REQ_DESCRIBE_NSM, NSMSIM_RESP_DESCRIBE_NSM, &resp);
    if (r != ERROR_CODE_SUCCESS)
        return r;
    if (resp.locked_pcrs_overflow) {
        /* The official library would write past locked_pcrs[64]; refuse instead. */
        nsmsim_api_response_free(&resp);
        return ERROR_CODE_INVALID_RESPONSE;
    }
    NsmDescription *d = nsm_description;
    d->version_major = resp.version_major;
    d->version_minor = resp.version_minor;
    d->version_patch = resp.version_patch;
    d->max_pcrs = resp.max_pcrs;
    d->digest = (Digest)resp.digest;
    d->locked_pcrs_len = (uint32_t)resp.locked_pcrs_len;
    memcpy(d->locked_pcrs, resp.locked_pcrs, resp.locked_pcrs_len * sizeof(uint16_t));
    size_t id_len = resp.module_id_len < sizeof(d->module_id) - 1 ? resp.module_id_len
                                                                  : sizeof(d->module_id) - 1;
    memcpy(d->module_id, resp.module_id, id_len);
    d->module_id[id_len] = 0;
    d->module_id_len = (uint32_t)id_len;
    nsmsim_api_response_free(&resp);
    return ERROR_CODE_SUCCESS;
}

ErrorCode nsm_get_attestation_doc(int32_t fd, const uint8_t *user_data, uint32_t user_data_len,
                                  const uint8_t *nonce_data, uint32_t nonce_len,
                                  const uint8_t *pub_key_data, uint32_t pub_key_len,
                                  uint8_t *att_doc_data, uint32_t *att_doc_len)
{
    if (!att_doc_len)
        return ERROR_CODE_INVALID_ARGUMENT;
    nsmkit_bytes ud = {user_data, user_data_len};
    nsmkit_bytes nonce = {nonce_data, nonce_len};
    nsmkit_bytes pk = {pub_key_data, pub_key_len};
    if (nsmsim_api_attestation_size(ud, nonce, pk) > NSM_REQUEST_MAX_SIZE)
        return ERROR_CODE_INPUT_TOO_LARGE;
    nsmkit_buf req;
    nsmkit_buf_init(&req, NSM_REQUEST_MAX_SIZE);
    nsmsim_api_encode_attestation(&req, ud, nonce, pk);
    return request_bytes(fd, &req, NSMSIM_RESP_ATTESTATION, att_doc_data, att_doc_len);
}

ErrorCode nsm_get_random(int32_t fd, uint8_t *buf, uintptr_t *buf_len)
{
    if (fd < 0 || !buf || !buf_len || *buf_len == 0)
        return ERROR_CODE_INVALID_ARGUMENT;
    nsmsim_api_response resp;
    ErrorCode r = request_unit(fd, NSMSIM_REQ_GET_RANDOM, NSMSIM_RESP_GET_RANDOM, &resp);
    if (r != ERROR_CODE_SUCCESS)
        return r;
    if (*buf_len > resp.bytes_len)
        *buf_len = resp.bytes_len;
    memcpy(buf, resp.bytes, *buf_len);
    nsmsim_api_response_free(&resp);
    return ERROR_CODE_SUCCESS;
}

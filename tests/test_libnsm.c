/* SPDX-License-Identifier: Apache-2.0 */
/* The drop-in libnsm (frontends/devnsm/libnsm.c): the official C API's layout and values, the
 * in-process fallback, and - re-executed under the LD_PRELOAD shim against a scripted
 * server in this process - the exact requests it sends and how it maps every kind of
 * answer (NSM errors, wrong variants, undecodable bytes, a lost device) to ErrorCode. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../frontends/transports/device.h"
#include "../frontends/transports/server.h"
#include "../frontends/devnsm/nsm.h"
#include "testutil.h"
#include "nsmkit/error.h"
#include "nsmkit/sim.h"

/* ---- without a device: the in-process NSM ----------------------------------------------- */

static void layout_matches_the_official_header(void **state)
{
    (void)state;
    /* repr(C) of the Rust struct: these offsets are what C callers compiled against the
     * official nsm.h read */
    assert_int_equal(offsetof(NsmDescription, version_major), 0);
    assert_int_equal(offsetof(NsmDescription, version_minor), 2);
    assert_int_equal(offsetof(NsmDescription, version_patch), 4);
    assert_int_equal(offsetof(NsmDescription, module_id), 6);
    assert_int_equal(offsetof(NsmDescription, module_id_len), 108);
    assert_int_equal(offsetof(NsmDescription, max_pcrs), 112);
    assert_int_equal(offsetof(NsmDescription, locked_pcrs), 114);
    assert_int_equal(offsetof(NsmDescription, locked_pcrs_len), 244);
    assert_int_equal(offsetof(NsmDescription, digest), 248);
    assert_int_equal(sizeof(NsmDescription), 252);
    assert_int_equal(ERROR_CODE_SUCCESS, 0);
    assert_int_equal(ERROR_CODE_INVALID_ARGUMENT, 1);
    assert_int_equal(ERROR_CODE_INVALID_INDEX, 2);
    assert_int_equal(ERROR_CODE_INVALID_RESPONSE, 3);
    assert_int_equal(ERROR_CODE_READ_ONLY_INDEX, 4);
    assert_int_equal(ERROR_CODE_INVALID_OPERATION, 5);
    assert_int_equal(ERROR_CODE_BUFFER_TOO_SMALL, 6);
    assert_int_equal(ERROR_CODE_INPUT_TOO_LARGE, 7);
    assert_int_equal(ERROR_CODE_INTERNAL_ERROR, 8);
    assert_int_equal(DIGEST_SHA256, 0);
    assert_int_equal(DIGEST_SHA384, 1);
    assert_int_equal(DIGEST_SHA512, 2);
}

static char *ca_dir;

static void require_device_refuses_the_fallback(void **state)
{
    (void)state;
    setenv("NSM_SIM_REQUIRE_DEVICE", "1", 1);
    assert_int_equal(nsm_lib_init(), -1);
    unsetenv("NSM_SIM_REQUIRE_DEVICE");
}

static void sha384_extend(uint8_t pcr[48], const void *data, size_t n)
{
    uint8_t out[48];
    unsigned len;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_true(ctx && EVP_DigestInit_ex(ctx, EVP_sha384(), NULL) &&
                EVP_DigestUpdate(ctx, pcr, 48) && EVP_DigestUpdate(ctx, data, n) &&
                EVP_DigestFinal_ex(ctx, out, &len));
    EVP_MD_CTX_free(ctx);
    memcpy(pcr, out, 48);
}

static void in_process_fallback(void **state)
{
    (void)state;
    setenv("NSM_SIM_CA", ca_dir, 1);
    int32_t fd = nsm_lib_init();
    assert_true(fd >= 0);
    assert_int_equal(nsmsim_devfd_kind_of(fd), NSMSIM_DEVFD_LIBNSM);
    NsmDescription d;
    assert_int_equal(nsm_get_description(fd, &d), ERROR_CODE_SUCCESS);
    assert_int_equal(d.max_pcrs, 32);
    assert_int_equal(d.locked_pcrs_len, 16);
    uint8_t pcr[48];
    uint32_t len = sizeof(pcr);
    assert_int_equal(nsm_extend_pcr(fd, 16, (const uint8_t *)"abc", 3, pcr, &len),
                     ERROR_CODE_SUCCESS);
    uint8_t want[48] = {0};
    sha384_extend(want, "abc", 3);
    assert_memory_equal(pcr, want, 48);
    nsm_lib_exit(fd);
    /* like a device, the state outlives a close: a new descriptor sees the extend */
    fd = nsm_lib_init();
    bool lock = true;
    len = sizeof(pcr);
    assert_int_equal(nsm_describe_pcr(fd, 16, &lock, pcr, &len), ERROR_CODE_SUCCESS);
    assert_false(lock);
    assert_memory_equal(pcr, want, 48);
    static uint8_t doc[16384];
    uint32_t doc_len = sizeof(doc);
    assert_int_equal(nsm_get_attestation_doc(fd, NULL, 0, NULL, 0, NULL, 0, doc, &doc_len),
                     ERROR_CODE_SUCCESS);
    assert_true(doc_len > 1000 && doc[0] == 0x84);
    nsm_lib_exit(fd);
}

/* Issue 7 item 4: an NSM error crosses into ErrorCode as ReadOnlyIndex, and with
 * NSM_SIM_TRACE the rule behind it (a numbered nsm-sim code) and its cause are logged. */
static void trace_names_the_rule_behind_an_error(void **state)
{
    (void)state;
    setenv("NSM_SIM_CA", ca_dir, 1);
    setenv("NSM_SIM_TRACE", "1", 1);
    char log[4200];
    snprintf(log, sizeof(log), "%s/trace.log", ca_dir);
    int capture = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(capture >= 0);
    int saved = dup(2);
    assert_int_equal(dup2(capture, 2), 2);
    close(capture);
    int32_t fd = nsm_lib_init();
    ErrorCode code = nsm_lock_pcr(fd, 0);
    nsm_lib_exit(fd);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    unsetenv("NSM_SIM_TRACE");
    size_t len;
    uint8_t *text = test_read_file(log, &len);
    fwrite(text, 1, len, stdout);
    assert_int_equal(code, ERROR_CODE_READ_ONLY_INDEX);
    assert_non_null(memmem(text, len, "201 PCR_LOCKED: PCR 0 is locked", 31));
    free(text);
    unlink(log);
}

typedef struct {
    int32_t fd;
    uint16_t index;
    bool ok;
} extender;

static void *extend_many(void *arg)
{
    extender *x = arg;
    uint8_t want[48] = {0}, got[48];
    x->ok = true;
    for (int i = 0; i < 20; i++) {
        uint32_t len = sizeof(got);
        uint8_t data[2] = {(uint8_t)x->index, (uint8_t)i};
        sha384_extend(want, data, 2);
        x->ok = x->ok && nsm_extend_pcr(x->fd, x->index, data, 2, got, &len) ==
                             ERROR_CODE_SUCCESS &&
                !memcmp(got, want, 48);
    }
    return NULL;
}

static void threads_share_one_nsm(void **state)
{
    (void)state;
    int32_t fd = nsm_lib_init();
    assert_true(fd >= 0);
    pthread_t th[4];
    extender x[4];
    for (int i = 0; i < 4; i++) {
        x[i] = (extender){fd, (uint16_t)(20 + i), false};
        assert_int_equal(pthread_create(&th[i], NULL, extend_many, &x[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(x[i].ok);
    }
    nsm_lib_exit(fd);
}

/* ---- under the shim, against a scripted server ------------------------------------------ */

static uint8_t last_request[NSM_REQUEST_MAX_SIZE];
static size_t last_request_len;
static uint8_t script[NSM_RESPONSE_MAX_SIZE];
static size_t script_len;
static int script_errno;

static int scripted(void *ctx, const uint8_t *req, size_t req_len,
                    uint8_t resp[NSM_RESPONSE_MAX_SIZE], size_t *resp_len)
{
    (void)ctx;
    memcpy(last_request, req, req_len);
    last_request_len = req_len;
    if (script_errno)
        return script_errno;
    memcpy(resp, script, script_len);
    *resp_len = script_len;
    return 0;
}

static void answer_hex(const char *hex)
{
    size_t n;
    uint8_t *b = test_hex(hex, &n);
    memcpy(script, b, n);
    script_len = n;
    script_errno = 0;
    free(b);
}

static void request_was(const char *hex)
{
    size_t n;
    uint8_t *b = test_hex(hex, &n);
    assert_int_equal(last_request_len, n);
    assert_memory_equal(last_request, b, n);
    free(b);
}

static nsmsim_server *server;
static pthread_t server_thread;
static int stop_pipe[2];

static void *serve(void *arg)
{
    (void)arg;
    nsmkit_error e;
    if (nsmsim_server_run(server, stop_pipe[0], &e) != 0)
        fprintf(stderr, "server: %s\n", e.msg);
    return NULL;
}

static int start_server(void **state)
{
    (void)state;
    nsmsim_server_options o = {.socket_path = getenv("NSM_SIM_SOCKET"), .log_prefix = "scripted"};
    nsmkit_error e;
    if (!o.socket_path || nsmsim_server_open(&o, scripted, NULL, &server, &e) != 0 ||
        pipe(stop_pipe) != 0 || pthread_create(&server_thread, NULL, serve, NULL) != 0)
        return -1;
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    if (write(stop_pipe[1], "x", 1) != 1)
        return -1;
    pthread_join(server_thread, NULL);
    nsmsim_server_close(server);
    return 0;
}

static const char pcr48[] = "58 30 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
                            "202122232425262728292a2b2c2d2e2f";

static void requests_and_answers(void **state)
{
    (void)state;
    int32_t fd = nsm_lib_init();
    assert_true(fd >= 0);
    assert_int_equal(nsmsim_devfd_kind_of(fd), NSMSIM_DEVFD_SHIM); /* through the shim */
    char hex[512];

    snprintf(hex, sizeof(hex), "a1 69 457874656e64504352 a1 64 64617461 %s", pcr48);
    answer_hex(hex);
    uint8_t out[64];
    uint32_t len = sizeof(out);
    assert_int_equal(nsm_extend_pcr(fd, 16, (const uint8_t *)"\x01\x02\x03", 3, out, &len),
                     ERROR_CODE_SUCCESS);
    request_was("a1 69 457874656e64504352 a2 65 696e646578 10 64 64617461 43 010203");
    assert_int_equal(len, 48);
    assert_int_equal(out[47], 0x2f);
    len = 10; /* truncated output */
    assert_int_equal(nsm_extend_pcr(fd, 16, (const uint8_t *)"", 0, out, &len),
                     ERROR_CODE_BUFFER_TOO_SMALL);
    assert_int_equal(len, 10);
    request_was("a1 69 457874656e64504352 a2 65 696e646578 10 64 64617461 40");

    snprintf(hex, sizeof(hex), "a1 6b 4465736372696265504352 a2 64 6c6f636b f5 64 64617461 %s", pcr48);
    answer_hex(hex);
    bool lock = false;
    len = sizeof(out);
    assert_int_equal(nsm_describe_pcr(fd, 300, &lock, out, &len), ERROR_CODE_SUCCESS);
    request_was("a1 6b 4465736372696265504352 a1 65 696e646578 19 012c");
    assert_true(lock);
    len = 5;
    assert_int_equal(nsm_describe_pcr(fd, 0, &lock, NULL, &len), ERROR_CODE_BUFFER_TOO_SMALL);
    assert_int_equal(len, 0);

    answer_hex("67 4c6f636b504352");
    assert_int_equal(nsm_lock_pcr(fd, 17), ERROR_CODE_SUCCESS);
    request_was("a1 67 4c6f636b504352 a1 65 696e646578 11");
    answer_hex("68 4c6f636b50435273");
    assert_int_equal(nsm_lock_pcrs(fd, 32), ERROR_CODE_SUCCESS);
    request_was("a1 68 4c6f636b50435273 a1 65 72616e6765 18 20");
    /* the right kind of answer for another request */
    assert_int_equal(nsm_lock_pcr(fd, 17), ERROR_CODE_INVALID_RESPONSE);

    answer_hex("a1 6b 4174746573746174696f6e a1 68 646f63756d656e74 44 84010203");
    uint8_t doc[16];
    len = sizeof(doc);
    const uint8_t k[2] = {9, 8};
    assert_int_equal(nsm_get_attestation_doc(fd, k, 0, NULL, 0, k, 2, doc, &len),
                     ERROR_CODE_SUCCESS);
    request_was("a1 6b 4174746573746174696f6e a3 69 757365725f64617461 40 65 6e6f6e6365 f6 "
                "6a 7075626c69635f6b6579 42 0908");
    assert_int_equal(len, 4);

    answer_hex("a1 69 47657452616e646f6d a1 66 72616e646f6d 44 01020304");
    uintptr_t rlen = 3;
    assert_int_equal(nsm_get_random(fd, out, &rlen), ERROR_CODE_SUCCESS);
    request_was("69 47657452616e646f6d");
    assert_int_equal(rlen, 3);
    nsm_lib_exit(fd);
}

static void description_mapping(void **state)
{
    (void)state;
    int32_t fd = nsm_lib_init();
    char hex[4096], id[400] = "";
    /* a 150-byte module id keeps 99 bytes and a NUL, as the official library does */
    for (int i = 0; i < 150; i++)
        strcat(id, "41");
    snprintf(hex, sizeof(hex),
             "a1 6b 44657363726962654e534d a7 6d 76657273696f6e5f6d616a6f72 02 "
             "6d 76657273696f6e5f6d696e6f72 03 6d 76657273696f6e5f7061746368 04 "
             "69 6d6f64756c655f6964 78 96 %s 68 6d61785f70637273 18 20 "
             "6b 6c6f636b65645f70637273 83 05 00 07 66 646967657374 66 534841353132",
             id);
    answer_hex(hex);
    NsmDescription d;
    memset(&d, 0xee, sizeof(d));
    assert_int_equal(nsm_get_description(fd, &d), ERROR_CODE_SUCCESS);
    request_was("6b 44657363726962654e534d");
    assert_int_equal(d.version_major, 2);
    assert_int_equal(d.version_minor, 3);
    assert_int_equal(d.version_patch, 4);
    assert_int_equal(d.module_id_len, 99);
    assert_int_equal(d.module_id[98], 'A');
    assert_int_equal(d.module_id[99], 0);
    assert_int_equal(d.max_pcrs, 32);
    assert_int_equal(d.locked_pcrs_len, 3);
    assert_int_equal(d.locked_pcrs[0], 0);
    assert_int_equal(d.locked_pcrs[1], 5);
    assert_int_equal(d.locked_pcrs[2], 7);
    assert_int_equal(d.digest, DIGEST_SHA512);

    /* more locked PCRs than the struct holds: refused, the struct untouched */
    char arr[1024] = "98 41";
    for (int i = 0; i < 65; i++)
        snprintf(arr + strlen(arr), sizeof(arr) - strlen(arr), " 18 %02x", 40 + i);
    snprintf(hex, sizeof(hex),
             "a1 6b 44657363726962654e534d a7 6d 76657273696f6e5f6d616a6f72 02 "
             "6d 76657273696f6e5f6d696e6f72 03 6d 76657273696f6e5f7061746368 04 "
             "69 6d6f64756c655f6964 61 41 68 6d61785f70637273 18 20 "
             "6b 6c6f636b65645f70637273 %s 66 646967657374 66 534841333834",
             arr);
    answer_hex(hex);
    memset(&d, 0xee, sizeof(d));
    assert_int_equal(nsm_get_description(fd, &d), ERROR_CODE_INVALID_RESPONSE);
    assert_int_equal(d.version_major, 0xeeee);
    nsm_lib_exit(fd);
}

static void error_mapping(void **state)
{
    (void)state;
    int32_t fd = nsm_lib_init();
    uint8_t out[48];
    uint32_t len = sizeof(out);
    bool lock;
    /* NSM errors come back as themselves */
    answer_hex("a1 65 4572726f72 6d 526561644f6e6c79496e646578");
    assert_int_equal(nsm_lock_pcr(fd, 3), ERROR_CODE_READ_ONLY_INDEX);
    answer_hex("a1 65 4572726f72 6c 496e76616c6964496e646578");
    assert_int_equal(nsm_describe_pcr(fd, 99, &lock, out, &len), ERROR_CODE_INVALID_INDEX);
    /* bytes that are not a Response: InternalError */
    answer_hex("ff ff");
    assert_int_equal(nsm_lock_pcr(fd, 3), ERROR_CODE_INTERNAL_ERROR);
    answer_hex("");
    assert_int_equal(nsm_lock_pcr(fd, 3), ERROR_CODE_INTERNAL_ERROR);
    answer_hex("67 4c6f636b504352 00");
    assert_int_equal(nsm_lock_pcr(fd, 3), ERROR_CODE_INTERNAL_ERROR);
    /* a device that fails: the shim's EIO is InternalError too */
    script_errno = ENOMEM;
    assert_int_equal(nsm_lock_pcr(fd, 3), ERROR_CODE_INTERNAL_ERROR);
    script_errno = 0;
    answer_hex("67 4c6f636b504352");
    assert_int_equal(nsm_lock_pcr(fd, 3), ERROR_CODE_SUCCESS); /* reconnected */
    /* refused before anything is sent */
    last_request_len = 12345;
    static uint8_t big[5000];
    len = sizeof(out);
    assert_int_equal(nsm_extend_pcr(fd, 16, big, sizeof(big), out, &len),
                     ERROR_CODE_INPUT_TOO_LARGE);
    assert_int_equal(nsm_extend_pcr(fd, 16, big, UINT32_MAX, out, &len),
                     ERROR_CODE_INPUT_TOO_LARGE);
    assert_int_equal(nsm_get_attestation_doc(fd, big, 1500, big, 1500, big, 1500, out, &len),
                     ERROR_CODE_INPUT_TOO_LARGE);
    assert_int_equal(nsm_extend_pcr(fd, 16, NULL, 0, out, &len), ERROR_CODE_INVALID_ARGUMENT);
    assert_int_equal(nsm_describe_pcr(fd, 0, NULL, out, &len), ERROR_CODE_INVALID_ARGUMENT);
    assert_int_equal(nsm_get_description(fd, NULL), ERROR_CODE_INVALID_ARGUMENT);
    uintptr_t rlen = 0;
    assert_int_equal(nsm_get_random(fd, out, &rlen), ERROR_CODE_INVALID_ARGUMENT);
    assert_int_equal(last_request_len, 12345);
    nsm_lib_exit(fd);
    /* a closed descriptor: EBADF from the kernel, InternalError from the library */
    assert_int_equal(nsm_lock_pcr(fd, 3), ERROR_CODE_INTERNAL_ERROR);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (!getenv("NSMKIT_TEST_PRELOADED")) {
        ca_dir = test_mkdtemp();
        nsmkit_error e;
        if (nsmca_init(ca_dir, NULL, &e) != 0) {
            fprintf(stderr, "CA: %s\n", e.msg);
            return 1;
        }
        const struct CMUnitTest in_process[] = {
            cmocka_unit_test(layout_matches_the_official_header),
            cmocka_unit_test(require_device_refuses_the_fallback),
            cmocka_unit_test(in_process_fallback),
            cmocka_unit_test(trace_names_the_rule_behind_an_error),
            cmocka_unit_test(threads_share_one_nsm),
        };
        int rc = cmocka_run_group_tests_name("libnsm in-process", in_process, NULL, NULL);
        test_rmdir(ca_dir);
        free(ca_dir);
        fflush(stdout);
        static char socket_env[128], failed_env[32];
        snprintf(socket_env, sizeof(socket_env), "NSM_SIM_SOCKET=%s/nsmkit-test-libnsm-%d.sock",
                 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
        snprintf(failed_env, sizeof(failed_env), "NSMKIT_TEST_FAILED_BEFORE=%d", rc);
        const char *extra[] = {socket_env, failed_env, NULL};
        test_reexec_preloaded(argv, extra);
    }
    const struct CMUnitTest through_shim[] = {
        cmocka_unit_test(requests_and_answers),
        cmocka_unit_test(description_mapping),
        cmocka_unit_test(error_mapping),
    };
    int rc = cmocka_run_group_tests_name("libnsm through the shim", through_shim, start_server,
                                         stop_server);
    const char *before = getenv("NSMKIT_TEST_FAILED_BEFORE");
    return rc || (before && strcmp(before, "0") != 0) ? 1 : 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* libnsmeif: every row of the EIF fault table gives its code; build and read agree; the
 * reader streams every byte once; describe's JSON; nsm-sim's --eif state option. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "nsmkit/eif.h"
#include "nsmkit/eif_faults.h"
#include "nsmkit/fault.h"
#include "nsmkit/file.h"
#include "nsmkit/sim.h"
#include "testutil.h"

typedef struct {
    char *dir;
    char *cert_pem, *key_pem;
    size_t cert_len, key_len;
    nsmkit_p384_private *key;
} fixture;

static char *bio_text(BIO *bio, size_t *len)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *out = malloc((size_t)n + 1);
    assert_non_null(out);
    memcpy(out, data, (size_t)n);
    out[n] = 0;
    *len = (size_t)n;
    return out;
}

/* A fresh EC P-384 key and a self-signed certificate for it, as PEM. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    EVP_PKEY *pkey = EVP_EC_gen("P-384");
    X509 *x = X509_new();
    assert_non_null(pkey);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"test signer", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, pkey);
    assert_true(X509_sign(x, pkey, EVP_sha384()) > 0);
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(cb, x), 1);
    assert_int_equal(PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL), 1);
    f->cert_pem = bio_text(cb, &f->cert_len);
    f->key_pem = bio_text(kb, &f->key_len);
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(pkey);
    nsmkit_error e;
    assert_int_equal(nsmeif_fault_load_key((const uint8_t *)f->key_pem, f->key_len,
                                           (const uint8_t *)f->cert_pem, f->cert_len, &f->key, &e),
                     0);
    f->dir = test_mkdtemp();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    test_rmdir(f->dir);
    free(f->dir);
    free(f->cert_pem);
    free(f->key_pem);
    nsmkit_p384_private_free(f->key);
    free(f);
    return 0;
}

static char *write_file(const fixture *f, const char *name, const uint8_t *data, size_t len)
{
    char *path = malloc(4200);
    snprintf(path, 4200, "%s/%s", f->dir, name);
    nsmkit_error e;
    assert_int_equal(nsmkit_file_write(path, data, len, 0644, &e), 0);
    return path;
}

/* Every row: the code the table names, nothing else; sound rows describe; the signed sound
 * rows verify and carry PCR8. */
static void fault_table_codes(void **state)
{
    fixture *f = *state;
    nsmeif_fault_signer signer = {(const uint8_t *)f->cert_pem, f->cert_len, f->key, NULL};
    for (unsigned i = 0; i < NSMEIF_FAULT_COUNT; i++) {
        const nsmeif_fault_info *info = nsmeif_fault_get((nsmeif_fault)i);
        uint8_t *bytes;
        size_t len;
        nsmkit_error e;
        assert_int_equal(nsmeif_fault_make((nsmeif_fault)i, &signer, &bytes, &len, &e), 0);
        char *path = write_file(f, "fault.eif", bytes, len);
        nsmeif_image image;
        nsmeif_code code = nsmeif_read(path, &image, NULL, NULL);
        if (code != info->expected)
            fail_msg("%s: expected %s, got %s (%s)", info->name, nsmeif_code_name(info->expected),
                     nsmeif_code_name(code), image.reason.msg);
        assert_int_equal(image.code, code);
        if (code == NSMEIF_ERR_OK) {
            char *json = nsmeif_describe_json(&image);
            assert_non_null(json);
            assert_true(image.crc_ok);
            assert_int_equal(image.is_signed, info->is_signed);
            if (info->is_signed) {
                assert_true(image.signature_ok && image.cert_ok);
                assert_non_null(strstr(json, "\"PCR8\""));
                assert_non_null(strstr(json, "\"SignatureCheck\": true"));
            }
            free(json);
        } else {
            assert_true(image.reason.msg[0] != 0);
        }
        nsmeif_image_free(&image);
        free(path);
        free(bytes);
    }
}

static void code_table(void **state)
{
    (void)state;
    static const int numbers[] = {
#define N(name, number, sentence) number,
        NSMEIF_CODES(N)
#undef N
    };
    size_t n = sizeof(numbers) / sizeof(numbers[0]);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(nsmeif_code_name((nsmeif_code)numbers[i]));
        assert_non_null(nsmeif_code_sentence((nsmeif_code)numbers[i]));
        assert_true(numbers[i] == 0 || (numbers[i] >= 4000 && numbers[i] <= 4999));
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(numbers[i], numbers[j]);
    }
    assert_null(nsmeif_code_name((nsmeif_code)4999));
    assert_int_equal(nsmeif_code_exit(NSMEIF_ERR_OK), 0);
    assert_int_equal(nsmeif_code_exit(NSMEIF_ERR_IO), 2);
    assert_int_equal(nsmeif_code_exit(NSMEIF_ERR_USAGE), 2);
    assert_int_equal(nsmeif_code_exit(NSMEIF_ERR_CRC_MISMATCH), 1);
    assert_int_equal(nsmeif_code_exit(NSMEIF_ERR_BAD_MAGIC), 1);
    for (unsigned i = 0; i < NSMEIF_FAULT_COUNT; i++) /* names are unique and found */
        assert_int_equal(nsmeif_fault_find(nsmeif_fault_get((nsmeif_fault)i)->name), i);
    assert_int_equal(nsmeif_fault_find("nope"), NSMEIF_FAULT_COUNT);
}

typedef struct {
    uint64_t bytes[NSMEIF_MAX_SECTIONS];
    unsigned calls;
    EVP_MD_CTX *kernel;
} stream_seen;

static int on_data(void *ctx, unsigned index, const nsmeif_section *s, const uint8_t *data,
                   size_t len)
{
    stream_seen *seen = ctx;
    seen->bytes[index] += len;
    seen->calls++;
    if (s->type == NSMEIF_SECTION_KERNEL)
        assert_int_equal(EVP_DigestUpdate(seen->kernel, data, len), 1);
    return 0;
}

static void extend(const uint8_t *data, size_t len, uint8_t pcr[48])
{
    uint8_t digest[48];
    unsigned n;
    assert_int_equal(EVP_Digest(data, len, digest, &n, EVP_sha384(), NULL), 1);
    assert_int_equal(nsmeif_pcr_extend(digest, pcr), 0);
}

/* A 3 MiB kernel (three read chunks): build, then read back through the data callback. */
static void build_and_stream(void **state)
{
    fixture *f = *state;
    size_t klen = 3 * 1024 * 1024 + 17;
    uint8_t *kernel = malloc(klen), rd[1000];
    for (size_t i = 0; i < klen; i++)
        kernel[i] = (uint8_t)(i * 2654435761u >> 13);
    memset(rd, 0x5a, sizeof(rd));
    char *kpath = write_file(f, "kernel", kernel, klen), *rpath = write_file(f, "rd", rd, sizeof(rd));
    char out[4200];
    snprintf(out, sizeof(out), "%s/built.eif", f->dir);
    const char *ramdisks[] = {rpath};
    nsmeif_build_options o = {.kernel = kpath, .cmdline = "a", .ramdisks = ramdisks,
                              .ramdisk_count = 1, .output = out, .build_time = "T"};
    nsmeif_image image;
    nsmkit_error e;
    assert_int_equal(nsmeif_build(&o, &image, &e), NSMEIF_ERR_OK);
    nsmeif_image_free(&image);

    stream_seen seen = {.kernel = EVP_MD_CTX_new()};
    assert_int_equal(EVP_DigestInit_ex(seen.kernel, EVP_sha384(), NULL), 1);
    assert_int_equal(nsmeif_read(out, &image, on_data, &seen), NSMEIF_ERR_OK);
    assert_int_equal(seen.bytes[0], klen);
    assert_int_equal(seen.bytes[1], 1);
    assert_int_equal(seen.bytes[3], sizeof(rd));
    assert_true(seen.calls >= 4 + 3); /* the kernel came in pieces */
    uint8_t k_digest[48];
    unsigned n;
    assert_int_equal(EVP_DigestFinal_ex(seen.kernel, k_digest, &n), 1);
    EVP_MD_CTX_free(seen.kernel);
    /* PCR1 = kernel || cmdline || ramdisk; PCR2 of no application ramdisk */
    uint8_t *all = malloc(klen + 1 + sizeof(rd)), pcr[48];
    memcpy(all, kernel, klen);
    all[klen] = 'a';
    memcpy(all + klen + 1, rd, sizeof(rd));
    extend(all, klen + 1 + sizeof(rd), pcr);
    assert_memory_equal(image.pcr1, pcr, 48);
    assert_memory_equal(image.pcr0, pcr, 48);
    extend(NULL, 0, pcr);
    assert_memory_equal(image.pcr2, pcr, 48);
    assert_string_equal(image.cmdline, "a");
    assert_non_null(strstr(image.metadata, "\"ImageName\":\"kernel\""));
    nsmeif_image_free(&image);
    free(all);
    free(kernel);
    free(kpath);
    free(rpath);
}

static void describe_json_fields_in_order(void **state)
{
    fixture *f = *state;
    nsmeif_fault_signer signer = {(const uint8_t *)f->cert_pem, f->cert_len, f->key, NULL};
    uint8_t *bytes;
    size_t len;
    nsmkit_error e;
    assert_int_equal(nsmeif_fault_make(NSMEIF_FAULT_sound_signed, &signer, &bytes, &len, &e), 0);
    char *path = write_file(f, "s.eif", bytes, len);
    nsmeif_image image;
    assert_int_equal(nsmeif_read(path, &image, NULL, NULL), NSMEIF_ERR_OK);
    char *json = nsmeif_describe_json(&image);
    static const char *const order[] = {
        "\"EifVersion\": 4", "\"Measurements\"", "\"HashAlgorithm\": \"Sha384 { ... }\"",
        "\"PCR0\"", "\"PCR1\"", "\"PCR2\"", "\"PCR8\"", "\"IsSigned\": true",
        "\"SigningCertificate\"", "\"IssuerName\"", "\"commonName\": \"test signer\"",
        "\"Algorithm\": \"ecdsa-with-SHA384\"", "\"NotBefore\"", "\"NotAfter\"", "\"Signature\"",
        "\"CheckCRC\": true", "\"SignatureCheck\": true", "\"ImageName\": \"fault\"",
        "\"ImageVersion\": \"1.0\"", "\"Metadata\"", "\"BuildTime\"", "\"BuildTool\"",
        "\"BuildToolVersion\"", "\"OperatingSystem\"", "\"KernelVersion\"", "\"DockerInfo\": null"};
    const char *at = json;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        const char *next = strstr(at, order[i]);
        if (!next)
            fail_msg("%s missing or out of order in\n%s", order[i], json);
        at = next;
    }
    free(json);
    nsmeif_image_free(&image);
    free(bytes);
    /* CustomMetadata's keys merged into Metadata, sorted, as serde prints them */
    assert_int_equal(nsmeif_fault_make(NSMEIF_FAULT_sound_custom_metadata, NULL, &bytes, &len, &e), 0);
    free(path);
    path = write_file(f, "c.eif", bytes, len);
    assert_int_equal(nsmeif_read(path, &image, NULL, NULL), NSMEIF_ERR_OK);
    json = nsmeif_describe_json(&image);
    assert_non_null(strstr(json, "\"DockerInfo\": null,\n    \"build\": {\n      \"a\": 2,\n"
                                 "      \"z\": 1\n    },\n    \"team\": \"nsmkit\"\n  }\n}\n"));
    free(json);
    nsmeif_image_free(&image);
    free(bytes);
    free(path);
}

static void not_a_regular_file(void **state)
{
    fixture *f = *state;
    nsmeif_image image;
    assert_int_equal(nsmeif_read(f->dir, &image, NULL, NULL), NSMEIF_ERR_IO);
    nsmeif_image_free(&image);
    char missing[4200];
    snprintf(missing, sizeof(missing), "%s/none", f->dir);
    assert_int_equal(nsmeif_read(missing, &image, NULL, NULL), NSMEIF_ERR_IO);
    assert_null(nsmeif_describe_json(&image));
    nsmeif_image_free(&image);
}

/* nsm-sim's --eif: PCR0/1/2 (and 8) from the image; --debug-mode before or after drops them;
 * a malformed image is refused with its code. */
static void sim_eif_option(void **state)
{
    fixture *f = *state;
    nsmeif_fault_signer signer = {(const uint8_t *)f->cert_pem, f->cert_len, f->key, NULL};
    uint8_t *bytes;
    size_t len;
    nsmkit_error e;
    assert_int_equal(nsmeif_fault_make(NSMEIF_FAULT_sound_signed, &signer, &bytes, &len, &e), 0);
    char *path = write_file(f, "sim.eif", bytes, len);
    free(bytes);
    nsmeif_image image;
    assert_int_equal(nsmeif_read(path, &image, NULL, NULL), NSMEIF_ERR_OK);

    char *argv[] = {"--eif", path, "--debug-mode"};
    nsmsim_options o;
    nsmsim_options_init(&o);
    int i = 0;
    assert_int_equal(nsmsim_options_parse_arg(&o, 3, argv, &i, &e), 1);
    assert_int_equal(i, 2);
    assert_int_equal(o.boot_pcrs_given, (1u << 0) | (1u << 1) | (1u << 2) | (1u << 8));
    assert_memory_equal(o.boot_pcrs[0], image.pcr0, 48);
    assert_memory_equal(o.boot_pcrs[2], image.pcr2, 48);
    assert_memory_equal(o.boot_pcrs[8], image.pcr8, 48);
    assert_int_equal(nsmsim_options_parse_arg(&o, 3, argv, &i, &e), 1);
    assert_true(o.debug_mode);
    assert_int_equal(o.boot_pcrs_given, 0);

    char *argv2[] = {"--debug-mode", "--eif", path};
    nsmsim_options_init(&o);
    for (i = 0; i < 3;)
        assert_int_equal(nsmsim_options_parse_arg(&o, 3, argv2, &i, &e), 1);
    assert_int_equal(o.boot_pcrs_given, 0);

    assert_int_equal(nsmeif_fault_make(NSMEIF_FAULT_crc_mismatch, NULL, &bytes, &len, &e), 0);
    char *bad = write_file(f, "bad.eif", bytes, len);
    char *argv3[] = {"--eif", bad};
    nsmsim_options_init(&o);
    i = 0;
    assert_int_equal(nsmsim_options_parse_arg(&o, 2, argv3, &i, &e), -1);
    assert_non_null(strstr(e.msg, "4500 CRC_MISMATCH"));
    assert_int_equal(o.boot_pcrs_given, 0);
    nsmeif_image_free(&image);
    free(bytes);
    free(bad);
    free(path);
}

static void ramdisk_reproducible(void **state)
{
    fixture *f = *state;
    char root[4200], sub[4200], a[4200], b[4200];
    snprintf(root, sizeof(root), "%s/root", f->dir);
    snprintf(sub, sizeof(sub), "%s/root/etc", f->dir);
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    free(write_file(f, "root/etc/z", (const uint8_t *)"zz", 2));
    free(write_file(f, "root/a", (const uint8_t *)"a", 1));
    snprintf(a, sizeof(a), "%s/a.cpio", f->dir);
    snprintf(b, sizeof(b), "%s/b.cpio", f->dir);
    const char *argv[] = {"/bin/app", "x y"}, *env[] = {"A=1"};
    nsmkit_error e;
    assert_int_equal(nsmeif_ramdisk_write(a, root, argv, 2, env, 1, &e), 0);
    assert_int_equal(nsmeif_ramdisk_write(b, root, argv, 2, env, 1, &e), 0);
    size_t la, lb;
    uint8_t *da = test_read_file(a, &la), *db = test_read_file(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    assert_int_equal(la % 512, 0);
    assert_memory_equal(da, "070701", 6);
    /* entries in order: cmd, env, rootfs, rootfs/a, rootfs/etc, rootfs/etc/z */
    const char *names[] = {"cmd", "env", "rootfs", "rootfs/a", "rootfs/etc", "rootfs/etc/z",
                           "TRAILER!!!"};
    const uint8_t *at = da;
    for (size_t i = 0; i < 7; i++) {
        at = memmem(at, la - (size_t)(at - da), names[i], strlen(names[i]) + 1);
        assert_non_null(at);
    }
    const char *bad_argv[] = {"line\nbreak"};
    assert_int_equal(nsmeif_ramdisk_write(a, NULL, bad_argv, 1, NULL, 0, &e), -1);
    assert_non_null(strstr(e.msg, "newline"));
    free(da);
    free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fault_table_codes),
        cmocka_unit_test(code_table),
        cmocka_unit_test(build_and_stream),
        cmocka_unit_test(describe_json_fields_in_order),
        cmocka_unit_test(not_a_regular_file),
        cmocka_unit_test(sim_eif_option),
        cmocka_unit_test(ramdisk_reproducible),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* nsm-nitro-cli's path rules and code table: name normalization (what an entry may be
 * called), the O_NOFOLLOW walk (no path through a link or a non-directory), removal that
 * refuses "." and "..", and the codes (in 6500-6999, unique, each with nitro-cli's E number
 * and a sentence). */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../nitro-cli/layer.h"
#include "../nitro-cli/nitro_cli.h"
#include "testutil.h"

static void normalize(const char *raw, bool dotdot, const char *want)
{
    char out[PATH_MAX];
    nsmkit_error e;
    int rc = nitrocli_name_normalize(raw, dotdot, out, sizeof(out), &e);
    if (want == NULL) {
        assert_int_equal(rc, -1);
    } else {
        assert_int_equal(rc, 0);
        assert_string_equal(out, want);
    }
}

static void names(void **state)
{
    (void)state;
    normalize("./bin/app", false, "bin/app");
    normalize("bin//app/", false, "bin/app");
    normalize("./", false, "");
    normalize("a/./b", false, "a/b");
    normalize("/etc/passwd", false, NULL);
    normalize("../x", false, NULL);
    normalize("a/../b", false, NULL);
    normalize("a/..", false, NULL);
    normalize("a/../b", true, "b");
    normalize("a/b/../../c", true, "c");
    normalize("a/../../c", true, NULL); /* above the top even lexically */
    normalize("..", true, NULL);
    normalize("...", false, "...");       /* a name, not a parent */
    normalize(".wh...", false, ".wh..."); /* the whiteout code refuses its target */
    char deep[400] = "";
    for (int i = 0; i < 65; i++)
        strcat(deep, "d/");
    normalize(deep, false, NULL);
    char small[8];
    nsmkit_error e;
    assert_int_equal(nitrocli_name_normalize("abcdefgh", false, small, sizeof(small), &e), -1);
}

static void walk(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_nitro_cli.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/real", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/link", dir);
    assert_int_equal(symlink("real", path), 0);
    snprintf(path, sizeof(path), "%s/file", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    int root = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(root >= 0);
    nsmkit_error e;
    const char *last;
    int fd = nitrocli_open_parent(root, "real/x", false, &last, &e);
    assert_true(fd >= 0);
    assert_string_equal(last, "x");
    close(fd);
    assert_int_equal(nitrocli_open_parent(root, "link/x", true, &last, &e), -1); /* a link */
    assert_int_equal(nitrocli_open_parent(root, "file/x", true, &last, &e), -1); /* a file */
    assert_int_equal(nitrocli_open_parent(root, "none/x", false, &last, &e), -2);
    fd = nitrocli_open_parent(root, "made/deeper/x", true, &last, &e);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof(path), "%s/made/deeper", dir);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    /* removal: never ".", "..", or a path; a link is removed, not what it names */
    assert_int_equal(nitrocli_remove_at(root, "..", &e), -1);
    assert_int_equal(nitrocli_remove_at(root, ".", &e), -1);
    assert_int_equal(nitrocli_remove_at(root, "real/..", &e), -1);
    assert_int_equal(nitrocli_remove_at(root, "link", &e), 0);
    snprintf(path, sizeof(path), "%s/real", dir);
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(nitrocli_remove_at(root, "missing", &e), 0);
    close(root);
    assert_int_equal(nitrocli_rm_rf(dir, &e), 0);
    assert_int_not_equal(lstat(dir, &st), 0);
}

static void codes(void **state)
{
    (void)state;
    static const int numbers[] = {
#define NUMBER(name, number, e, sentence) number,
        NITROCLI_CODES(NUMBER)
#undef NUMBER
    };
    size_t n = sizeof(numbers) / sizeof(numbers[0]);
    for (size_t i = 0; i < n; i++) {
        nitrocli_code code = (nitrocli_code)numbers[i];
        assert_true(numbers[i] == 0 || (numbers[i] >= 6500 && numbers[i] <= 6999));
        assert_non_null(nitrocli_code_name(code));
        assert_non_null(nitrocli_code_sentence(code));
        assert_true(nitrocli_code_e(code) >= 0 && nitrocli_code_e(code) <= 59);
        for (size_t j = i + 1; j < n; j++)
            assert_int_not_equal(numbers[i], numbers[j]);
    }
    assert_null(nitrocli_code_name((nitrocli_code)6999));
    assert_int_equal(nitrocli_code_e(NITROCLI_ERR_NOT_DEBUG), 44);
    assert_int_equal(nitrocli_code_e(NITROCLI_ERR_UNKNOWN_ENCLAVE), 11);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names),
        cmocka_unit_test(walk),
        cmocka_unit_test(codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

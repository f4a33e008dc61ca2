/* tmp_helper.h — temporary directories for the unit tests: made under /tmp with a prefix and
 * removed with everything in them when the test process exits (atexit; not in a forked child
 * that exits), so a run — passed or failed — leaves nothing behind.
 */
#ifndef WG_TEST_TMP_HELPER_H
#define WG_TEST_TMP_HELPER_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char **wg_tmp_dirs;
static size_t wg_tmp_ndirs;
static pid_t wg_tmp_owner;

static int wg_tmp_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    (void)remove(p);
    return 0;
}

/* Remove dir and everything under it (symlinks not followed). */
static void wg_tmp_rmtree(const char *dir)
{
    (void)nftw(dir, wg_tmp_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void wg_tmp_cleanup(void)
{
    if (getpid() != wg_tmp_owner) {
        return;
    }
    for (size_t i = 0; i < wg_tmp_ndirs; i++) {
        wg_tmp_rmtree(wg_tmp_dirs[i]);
        free(wg_tmp_dirs[i]);
    }
    free(wg_tmp_dirs);
    wg_tmp_dirs = NULL;
    wg_tmp_ndirs = 0;
}

/* Make /tmp/PREFIX-XXXXXX into dir (n bytes); NULL when it could not be made. */
static char *wg_tmp_dir(char *dir, size_t n, const char *prefix)
{
    if ((size_t)snprintf(dir, n, "/tmp/%s-XXXXXX", prefix) >= n || !mkdtemp(dir)) {
        return NULL;
    }
    if (!wg_tmp_owner) {
        wg_tmp_owner = getpid();
        atexit(wg_tmp_cleanup);
    }
    char **d = realloc(wg_tmp_dirs, (wg_tmp_ndirs + 1) * sizeof(*d));
    if (d) {
        wg_tmp_dirs = d;
        if ((d[wg_tmp_ndirs] = strdup(dir)) != NULL) {
            wg_tmp_ndirs++;
        }
    }
    return dir;
}

#endif

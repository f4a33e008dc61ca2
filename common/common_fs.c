/* common_fs.c — the little file-system help the state stores need: create a directory and
 * its parents (state_dir may be nested and not exist yet), private to the user.
 */
#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

enum wg_err wg_mkdirs(const char *dir)
{
    char tmp[1024];
    if (!dir || !*dir || strlen(dir) >= sizeof(tmp)) {
        errno = EINVAL;
        return WG_EINVAL;
    }
    snprintf(tmp, sizeof(tmp), "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
                return WG_EIO;
            }
            *p = '/';
        }
    }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* config_alerting_int.h — the `alerting:` and `monitor:` rows of wg__config_sections
 * (config_load.c), decoded from the shared node tree by config_alerting.c, and the template
 * check with the offset of the problem (config_matcher.c). Internal to config/.
 */
#ifndef WG_CONFIG_ALERTING_INT_H
#define WG_CONFIG_ALERTING_INT_H

#include "config/config_alerting.h"
#include "config/config_int.h"

/* Decode `alerting:` / `monitor:` (n NULL: absent, nothing done) into c->cfg->alerting,
 * which either allocates with its defaults when it is still NULL; `alerting` must come before
 * `monitor` in the table. Errors go to c->diags. */
void wg__config_decode_alerting(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                                const char *path);
void wg__config_decode_monitor(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                               const char *path);
/* Frees cfg->alerting (both sections) and sets it NULL. */
void wg__config_free_alerting(struct wg_config *cfg);

/* wg_config_message_check, also giving in *off the byte offset of the problem in tmpl. */
enum wg_err wg__config_message_check(const char *tmpl, size_t *off, char *err,
                                     size_t errlen) WG_NODISCARD;

#endif

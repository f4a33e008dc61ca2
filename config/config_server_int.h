/* config_server_int.h — the `server:` section's row for wg__config_sections (config_load.c):
 *     {"server", wg__config_decode_server, wg__config_free_server},
 * Internal to config/; fold into config/config_int.h when convenient.
 */
#ifndef WG_CONFIG_SERVER_INT_H
#define WG_CONFIG_SERVER_INT_H

#include "config/config_int.h"

/* Fills defaults (also when n is NULL: no section), then decodes the mapping. */
void wg__config_decode_server(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                              const char *path);
void wg__config_free_server(struct wg_config *cfg);
/* Defaults only (for configs built in memory, e.g. tests). */
void wg__config_server_defaults(struct wg_server_cfg *s);

#endif

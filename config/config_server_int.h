/* config_server_int.h — the decoder of the `server:` section (config/config_server.c), for the
 * config loader to call. Internal to config/; fold into config/config_int.h when convenient.
 */
#ifndef WG_CONFIG_SERVER_INT_H
#define WG_CONFIG_SERVER_INT_H

#include <yaml.h>

#include "config/config.h"

/* Defaults for every field; call on every config, with or without a `server:` section. */
void wg__config_server_defaults(struct wg_server_cfg *s);
/* Set one key of the section ("listen", "max_body", "tls.cert", ...) from its scalar text.
 * Unknown keys and bad values add an error to d (listing the allowed keys) and return
 * WG_ECONFIG. pos points at the value. */
enum wg_err wg__config_server_set(struct wg_server_cfg *s, const char *key, const char *value,
                                  const struct wg_pos *pos, struct wg_diags *d);
/* Decode a whole `server:` mapping node of a libyaml document (duplicate keys rejected). */
void wg__config_server_decode(struct wg_server_cfg *s, yaml_document_t *doc, yaml_node_t *node,
                              const char *file, struct wg_diags *d);
/* Cross-field checks (tls cert and key together, one token source). */
void wg__config_server_validate(const struct wg_server_cfg *s, struct wg_diags *d);
void wg__config_server_free(struct wg_server_cfg *s);

#endif

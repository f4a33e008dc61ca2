/* config_events.c — decodes the `events:` section: where markers and verdicts are written
 * back as line protocol (write_to: a source of `sources:`) and how often the batch is sent.
 * A row of wg__config_sections (config_load.c), after `sources:` so the name is checked.
 */
#include "config/config_int.h"

#include <stdlib.h>
#include <string.h>

#define OFF(m) offsetof(struct wg_events_cfg, m)

static const struct wg__config_range r_flush = {0.001, 60, 0, 0}; /* seconds */

static const struct wg__config_field events_fields[] = {
    {"write_to", wg__config_dec_str, OFF(write_to), NULL, 0, 0},
    {"flush_interval", wg__config_dec_duration, OFF(flush_ns), &r_flush, 0, 0},
};

void wg__config_decode_events(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                              const char *path)
{
    struct wg_events_cfg *e = &c->cfg->events;
    memset(e, 0, sizeof(*e));
    e->flush_ns = WG_NS_PER_SEC / 5;
    if (!n || wg__config_is_null(n)) {
        return;
    }
    e->present = 1;
    e->pos = n->pos;
    struct wg__config_fieldset set = {events_fields,
                                      sizeof(events_fields) / sizeof(events_fields[0]), e, NULL};
    if (wg__config_fields(c, n, path, &set, 1, NULL) != 0 || !e->write_to) {
        return;
    }
    for (size_t i = 0; i < c->cfg->nsources; i++) {
        if (!strcmp(c->cfg->sources[i].name, e->write_to)) {
            return;
        }
    }
    const struct wg__cfg_node *w = wg__config_get(n, "write_to");
    char p[WG__CONFIG_PATH_MAX];
    wg__config_path_key(p, sizeof(p), path, "write_to");
    wg__config_err(c, w ? w : n, p, "unknown source '%s'", e->write_to);
}

void wg__config_free_events(struct wg_config *cfg)
{
    free(cfg->events.write_to);
    memset(&cfg->events, 0, sizeof(cfg->events));
}

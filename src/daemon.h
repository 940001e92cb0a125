/*
 * daemon.h - `otpbridge run`: the daemon in the foreground.
 */
#ifndef OTPBRIDGE_DAEMON_H
#define OTPBRIDGE_DAEMON_H

#include "config.h"
#include "filter.h"

/* Runs until SIGTERM/SIGINT; returns the process exit status.  Takes
 * ownership of cfg and set, loaded from path (must_exist as for
 * config_load), which SIGHUP reads again. */
int daemon_run(struct config *cfg, struct filter_set *set, const char *path,
    gboolean must_exist);

/* Creates the push client for cfg, or NULL for the dry-run sink (no URL
 * or no API key). */
struct push_client *daemon_push_client(const struct config *cfg, GMainContext *ctx);

#endif

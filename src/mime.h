/*
 * mime.h - raw RFC 5322/MIME bytes to struct message, through GMime.
 */
#ifndef OTPBRIDGE_MIME_H
#define OTPBRIDGE_MIME_H

#include <stddef.h>
#include <glib.h>
#include "message.h"

/* Largest body text handed to the detector and filters (bytes). */
#define MIME_TEXT_MAX (512 * 1024)

/*
 * Parses len bytes of one message.  Never fails on broken MIME: it takes
 * what can be read.  Returns -1 with *error set only when the input is not
 * a mail at all (empty, or no header field before the body).
 * mime_init() must have been called once per process.
 */
int mime_parse(const char *data, size_t len, struct message **msg_r, GError **error);

/* Initialises GMime; idempotent. */
void mime_init(void);

#endif

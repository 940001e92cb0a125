/*
 * html.h - HTML to the text a reader sees, with an HTML5 parser (gumbo).
 */
#ifndef OTPBRIDGE_HTML_H
#define OTPBRIDGE_HTML_H

#include <stddef.h>
#include <glib.h>

/*
 * Converts len bytes of UTF-8 HTML to plain UTF-8 text: tags dropped, block
 * elements become line breaks, entities decoded, inline runs joined as
 * rendered, <style>/<script>/<head>/comments dropped, whitespace collapsed
 * within lines.  When links is not NULL, each <a href> is appended to it as
 * a struct link * (owned by the array, which must free with link_free).
 * Output is bounded by max_out bytes.  Returns a g_malloc'd string.
 */
char *html_to_text(const char *html, size_t len, size_t max_out, GPtrArray *links);

#endif

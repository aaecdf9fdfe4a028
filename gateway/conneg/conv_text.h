/*
 * conv_text.h - text conversions: charset (iconv) and HTML to plain text.
 *
 * Pure and thread-safe (each call opens its own iconv descriptor).
 */
#ifndef GW_GATEWAY_CONV_TEXT_H
#define GW_GATEWAY_CONV_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define CONV_TEXT_MAX_IN (16u << 20) /* octets of text converted at most */

/*
 * Convert n octets from charset `from` to `to`, appending to out (reset
 * first). Without translit the conversion is exact or fails; with it,
 * characters `to` lacks become approximations ("?" at worst) and *lossy
 * says whether that happened. Returns 0, GW_EUNSUPP (unknown charset),
 * GW_ERANGE (not representable / invalid input, exact mode), GW_ETOOBIG.
 */
int conv_text_charset(const char *from, const char *to, const uint8_t *in,
    size_t n, struct buf *out, bool translit, bool *lossy);

/*
 * HTML (UTF-8) to plain UTF-8 text with CRLF line ends: tags removed,
 * script/style/head contents dropped, block elements and <br> become line
 * breaks, list items get "* ", links keep their target as " <url>", common
 * entities and numeric references decoded, white space collapsed.
 */
void conv_text_html_to_plain(const uint8_t *in, size_t n, struct buf *out);

#endif

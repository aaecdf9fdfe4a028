/*
 * caps.h - recipient capabilities as RFC 2533-style feature-set filters.
 *
 * Glossary:
 *   filter      an RFC 2533 predicate such as
 *               (&(type=[text/plain,image/jpeg])(size<=20000)); it
 *               describes the set of content forms a recipient can use.
 *   collection  (struct caps_fc) the features of one concrete form of a
 *               body part: type, charset, size, width, height, pixels,
 *               message-size. A form is usable when the filter holds.
 *
 * Syntax accepted: "(" then "&" / "|" followed by one or more filters,
 * "!" followed by one filter, or attr ("=" | "<=" | ">=") value, or
 * attr "=" "[" entry *("," entry) "]" where entry is a value or a range
 * lo ".." hi. Values: integers, rationals "a/b", tokens (letters, digits
 * and - + . _ / * % :), quoted strings, TRUE/FALSE. Names and token
 * values compare case-insensitively. A type value ending in "/ *" (written
 * without the space) matches any subtype of that top-level type.
 *
 * Evaluation rule (skywave's): a comparison whose attribute the collection
 * does not carry is "don't care" and holds, also under "!". So a text part
 * (no width) passes (width<=640), and posting capabilities never narrows
 * what is said about features a form does not have.
 *
 * Pure; no allocation survives except the parsed filter (caller frees).
 */
#ifndef GW_GATEWAY_CAPS_H
#define GW_GATEWAY_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAPS_FILTER_MAX_LEN 8192 /* octets of filter text */
#define CAPS_FILTER_MAX_DEPTH 32
#define CAPS_FC_MAX 12           /* features in one collection */

struct caps_filter; /* opaque parsed filter */

/* Parse text (NUL-terminated). On success *out is a new filter (free with
 * caps_filter_free). Returns 0, GW_ESYNTAX (with *err_off set to the octet
 * offset where parsing stopped, when err_off is not NULL) or GW_ETOOBIG. */
int caps_filter_parse(const char *text, struct caps_filter **out,
    size_t *err_off);
void caps_filter_free(struct caps_filter *f);

enum caps_vkind { CAPS_V_NUM, CAPS_V_STR };

/* A value: a number num/den (den > 0) or a string (borrowed). */
struct caps_value {
	enum caps_vkind kind;
	int64_t num, den;
	const char *str;
};

struct caps_fc {
	struct {
		const char *name; /* borrowed */
		struct caps_value v;
	} f[CAPS_FC_MAX];
	size_t n;
};

void caps_fc_init(struct caps_fc *fc);
/* Set (or replace) a feature. Strings are borrowed; they must outlive
 * the evaluation. Beyond CAPS_FC_MAX features the call is ignored. */
void caps_fc_set_str(struct caps_fc *fc, const char *name, const char *v);
void caps_fc_set_num(struct caps_fc *fc, const char *name, int64_t v);
/* Remove a feature (it then becomes "don't care"). */
void caps_fc_unset(struct caps_fc *fc, const char *name);

/* Does the collection satisfy the filter? A NULL filter holds for all. */
bool caps_filter_match(const struct caps_filter *f, const struct caps_fc *fc);

/* Describe a collection as a filter "(&(type=...)(charset=...)...)" into
 * out (always NUL-terminated); returns 0 or GW_ETOOBIG when truncated. */
int caps_fc_format(const struct caps_fc *fc, char *out, size_t len);

#endif

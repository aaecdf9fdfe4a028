/*
 * cfgtab.h - table-driven INI fields: {key, type, offset, default, min, max}.
 *
 * The daemon configuration and the firmware profiles are both parsed through
 * field tables into plain structs, so every value has one default, one
 * range, and one error message naming file:line and the allowed range.
 *
 * Storage by type:
 *   CFG_BOOL        bool         yes/no, true/false, on/off, 1/0
 *   CFG_INT         int64_t      decimal, within [min, max]
 *   CFG_DURATION_MS int64_t      "250ms", "30s", "5m", "2h", "1d"; a bare
 *                                number is seconds; range in ms
 *   CFG_SIZE        int64_t      "4096", "64k", "10M", "1G" (powers of 1024)
 *   CFG_STRING      char[size]   length within [min, max] bytes, < size
 *   CFG_ENUM        int          index into choices (case-insensitive)
 *
 * The INI reader wraps inih and adds the line number of every key, which
 * Debian's inih does not pass to handlers.
 */
#ifndef GW_COMMON_CFGTAB_H
#define GW_COMMON_CFGTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cfg_type {
	CFG_BOOL,
	CFG_INT,
	CFG_DURATION_MS,
	CFG_SIZE,
	CFG_STRING,
	CFG_ENUM,
};

struct cfg_field {
	const char *key;
	enum cfg_type type;
	size_t offset;
	size_t size;           /* CFG_STRING: size of the char array */
	const char *def;       /* default as text ("" or NULL: empty / 0) */
	int64_t min, max;      /* numbers: value range; strings: length */
	const char *const *choices; /* CFG_ENUM: NULL-terminated */
	const char *help;      /* one line, for docs and --help */
};

#define CFG_INT_F(st, m, k, d, lo, hi, h) \
	{ k, CFG_INT, offsetof(st, m), 0, d, lo, hi, NULL, h }
#define CFG_DUR_F(st, m, k, d, lo, hi, h) \
	{ k, CFG_DURATION_MS, offsetof(st, m), 0, d, lo, hi, NULL, h }
#define CFG_SIZE_F(st, m, k, d, lo, hi, h) \
	{ k, CFG_SIZE, offsetof(st, m), 0, d, lo, hi, NULL, h }
#define CFG_BOOL_F(st, m, k, d, h) \
	{ k, CFG_BOOL, offsetof(st, m), 0, d, 0, 1, NULL, h }
#define CFG_STR_F(st, m, k, d, lo, h) \
	{ k, CFG_STRING, offsetof(st, m), sizeof(((st *)0)->m), d, lo, \
	  (int64_t)sizeof(((st *)0)->m) - 1, NULL, h }
#define CFG_ENUM_F(st, m, k, d, ch, h) \
	{ k, CFG_ENUM, offsetof(st, m), 0, d, 0, 0, ch, h }
#define CFG_END { NULL, CFG_INT, 0, 0, NULL, 0, 0, NULL, NULL }

/* Apply every default of tab to obj. Returns 0, or GW_EINTERNAL with err
 * set when a default itself is invalid (a bug in the table). */
int cfgtab_defaults(const struct cfg_field *tab, void *obj, char *err,
    size_t errlen);

/* The field for key (case-insensitive), or NULL. */
const struct cfg_field *cfgtab_find(const struct cfg_field *tab,
    const char *key);

/* Parse value into obj's field. On error returns GW_EINVAL or GW_ERANGE and
 * writes a message naming the key and the allowed values into err. */
int cfgtab_set(const struct cfg_field *f, void *obj, const char *value,
    char *err, size_t errlen);

/* Format obj's field as config text into out. */
void cfgtab_format(const struct cfg_field *f, const void *obj, char *out,
    size_t outlen);

/* Describe the allowed values of f ("1..100", "30s..1d", "yes|no"). */
void cfgtab_describe(const struct cfg_field *f, char *out, size_t outlen);

/* Parsers for single values, shared with code that parses lists. */
int cfg_parse_bool(const char *s, bool *out);
int cfg_parse_int(const char *s, int64_t *out);
int cfg_parse_duration_ms(const char *s, int64_t *out);
int cfg_parse_size(const char *s, int64_t *out);

/* INI reading with line numbers. The handler returns 0 to go on, or a
 * negative code to record an error (parsing continues so every error in a
 * file can be reported; the first code is returned). */
typedef int (*cfg_ini_handler)(void *user, const char *section,
    const char *key, const char *value, int lineno);

/* Parse a file. Returns 0; GW_ENOENT (cannot open, with errno text in err);
 * GW_ESYNTAX for a malformed line (err names the line); or the first
 * handler error. */
int cfg_ini_parse_file(const char *path, cfg_ini_handler h, void *user,
    char *err, size_t errlen);
/* The same over a string (path used in messages only). */
int cfg_ini_parse_string(const char *text, const char *path,
    cfg_ini_handler h, void *user, char *err, size_t errlen);

#endif

/*
 * log.h - one event per line, ids first, key=value.
 *
 *   gw_log(GW_LOG_INFO, "smtp", "session=%s event=connect peer=%s", ...);
 *
 * writes
 *
 *   2026-11-23T21:10:00.123Z skywaved[812] info smtp: session=.. event=..
 *
 * to stderr and, when enabled, to syslog. Lines are formatted into one buffer
 * and written with one write(2), so threads (the loop and the queue owner)
 * may log concurrently without interleaving. Debug lines are gated per
 * subsystem (gw_log_set_debug("smtp,queue") or "all").
 *
 * The logger is process-wide state by nature; it is configured at start and
 * on reload from the loop thread only.
 */
#ifndef GW_COMMON_LOG_H
#define GW_COMMON_LOG_H

#include <stdbool.h>

enum gw_log_level {
	GW_LOG_ERR = 0,
	GW_LOG_WARN = 1,
	GW_LOG_INFO = 2,
	GW_LOG_DEBUG = 3,
};

/* Emit one line. subsys is a short lower-case name ("smtp", "queue"). */
void gw_log(enum gw_log_level level, const char *subsys, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* True if a debug line for subsys would be written. */
bool gw_log_debug_enabled(const char *subsys);

void gw_log_set_ident(const char *ident);
void gw_log_set_level(enum gw_log_level level);
/* Comma-separated subsystem names, "all", or "" for none. */
void gw_log_set_debug(const char *subsystems);
void gw_log_set_syslog(bool on);
/* Silence stderr output (tests that assert on the sink only). */
void gw_log_set_stderr(bool on);

/* An extra sink that receives every written line (without newline); used by
 * tests and by the control socket's event stream. NULL removes it. Called on
 * the logging thread; must not log. */
typedef void (*gw_log_sink_fn)(enum gw_log_level level, const char *subsys,
    const char *line, void *arg);
void gw_log_set_sink(gw_log_sink_fn fn, void *arg);

/* Parse "err|warn|info|debug"; returns 0 or GW_EINVAL. */
int gw_log_level_parse(const char *s, enum gw_log_level *out);
const char *gw_log_level_name(enum gw_log_level level);

/* A value for a quoted field (key="..."): '"' and '\\' escaped with a
 * backslash, CR, LF and tab as \\r \\n \\t, other control bytes as \\xHH,
 * so a line stays one line and a tool can split it on key="value" pairs.
 * Long values are cut at GW_LOGQ_MAX bytes with "...". The text lives in
 * one of GW_LOGQ_SLOTS buffers of the calling thread: use it as an
 * argument of the next gw_log call (at most GW_LOGQ_SLOTS per call).
 * NULL gives "". */
#define GW_LOGQ_MAX 600
#define GW_LOGQ_SLOTS 8
const char *gw_logq(const char *s);

#define GW_LOGE(sub, ...) gw_log(GW_LOG_ERR, sub, __VA_ARGS__)
#define GW_LOGW(sub, ...) gw_log(GW_LOG_WARN, sub, __VA_ARGS__)
#define GW_LOGI(sub, ...) gw_log(GW_LOG_INFO, sub, __VA_ARGS__)
#define GW_LOGD(sub, ...)                                       \
	do {                                                    \
		if (gw_log_debug_enabled(sub))                  \
			gw_log(GW_LOG_DEBUG, sub, __VA_ARGS__); \
	} while (0)

#endif

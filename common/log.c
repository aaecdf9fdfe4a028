/*
 * log.c - the line logger (see log.h).
 */
#include "common/log.h"

#include "common/err.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048
#define LOG_DEBUG_MAX 256

static struct {
	pthread_mutex_t lock; /* guards the settings below */
	char ident[32];
	enum gw_log_level level;
	char debug[LOG_DEBUG_MAX]; /* ",smtp,queue," or ",all," */
	bool use_syslog;
	bool syslog_open;
	bool use_stderr;
	gw_log_sink_fn sink;
	void *sink_arg;
} lg = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.ident = "skywave",
	.level = GW_LOG_INFO,
	.debug = "",
	.use_stderr = true,
};

static const char *const level_names[] = { "err", "warn", "info", "debug" };

const char *
gw_log_level_name(enum gw_log_level level)
{
	if ((unsigned)level < 4)
		return level_names[level];
	return "?";
}

int
gw_log_level_parse(const char *s, enum gw_log_level *out)
{
	for (unsigned i = 0; i < 4; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum gw_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "error") == 0) {
		*out = GW_LOG_ERR;
		return 0;
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = GW_LOG_WARN;
		return 0;
	}
	return GW_EINVAL;
}

void
gw_log_set_ident(const char *ident)
{
	pthread_mutex_lock(&lg.lock);
	snprintf(lg.ident, sizeof(lg.ident), "%s", ident);
	pthread_mutex_unlock(&lg.lock);
}

void
gw_log_set_level(enum gw_log_level level)
{
	pthread_mutex_lock(&lg.lock);
	lg.level = level;
	pthread_mutex_unlock(&lg.lock);
}

void
gw_log_set_debug(const char *subsystems)
{
	pthread_mutex_lock(&lg.lock);
	if (subsystems == NULL || subsystems[0] == '\0')
		lg.debug[0] = '\0';
	else
		snprintf(lg.debug, sizeof(lg.debug), ",%s,", subsystems);
	pthread_mutex_unlock(&lg.lock);
}

void
gw_log_set_syslog(bool on)
{
	pthread_mutex_lock(&lg.lock);
	lg.use_syslog = on;
	if (on && !lg.syslog_open) {
		openlog(lg.ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
		lg.syslog_open = true;
	}
	pthread_mutex_unlock(&lg.lock);
}

void
gw_log_set_stderr(bool on)
{
	pthread_mutex_lock(&lg.lock);
	lg.use_stderr = on;
	pthread_mutex_unlock(&lg.lock);
}

void
gw_log_set_sink(gw_log_sink_fn fn, void *arg)
{
	pthread_mutex_lock(&lg.lock);
	lg.sink = fn;
	lg.sink_arg = arg;
	pthread_mutex_unlock(&lg.lock);
}

bool
gw_log_debug_enabled(const char *subsys)
{
	char pat[40];
	bool on;

	pthread_mutex_lock(&lg.lock);
	if (lg.debug[0] == '\0') {
		on = false;
	} else if (strstr(lg.debug, ",all,") != NULL) {
		on = true;
	} else {
		snprintf(pat, sizeof(pat), ",%s,", subsys);
		on = strstr(lg.debug, pat) != NULL;
	}
	pthread_mutex_unlock(&lg.lock);
	return on;
}

static int
to_syslog_prio(enum gw_log_level level)
{
	switch (level) {
	case GW_LOG_ERR: return LOG_ERR;
	case GW_LOG_WARN: return LOG_WARNING;
	case GW_LOG_INFO: return LOG_INFO;
	default: return LOG_DEBUG;
	}
}

void
gw_log(enum gw_log_level level, const char *subsys, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	char stamp[40];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int head, n;

	pthread_mutex_lock(&lg.lock);
	if (level > lg.level && level != GW_LOG_DEBUG) {
		pthread_mutex_unlock(&lg.lock);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	head = snprintf(line, sizeof(line), "%s.%03ldZ %s[%ld] %s %s: ", stamp,
	    ts.tv_nsec / 1000000L, lg.ident, (long)getpid(),
	    gw_log_level_name(level), subsys);
	if (head < 0 || (size_t)head >= sizeof(line))
		head = 0;
	va_start(ap, fmt);
	n = vsnprintf(line + head, sizeof(line) - (size_t)head - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)head;
	if (n > 0) {
		len += (size_t)n;
		if (len > sizeof(line) - 2)
			len = sizeof(line) - 2; /* truncated: still one line */
	}
	line[len] = '\0';
	if (lg.sink)
		lg.sink(level, subsys, line, lg.sink_arg);
	if (lg.use_syslog)
		syslog(to_syslog_prio(level), "%s: %s", subsys, line + head);
	line[len++] = '\n';
	if (lg.use_stderr) {
		ssize_t w = write(STDERR_FILENO, line, len);
		(void)w; /* nothing sensible to do if stderr is gone */
	}
	pthread_mutex_unlock(&lg.lock);
}

const char *
gw_logq(const char *s)
{
	static _Thread_local char slots[GW_LOGQ_SLOTS][GW_LOGQ_MAX + 8];
	static _Thread_local unsigned next;
	char *out = slots[next++ % GW_LOGQ_SLOTS];
	size_t o = 0;

	if (s == NULL)
		s = "";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[5];
		size_t n;
		if (c == '"' || c == '\\')
			n = (size_t)snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c == '\n')
			n = (size_t)snprintf(esc, sizeof(esc), "\\n");
		else if (c == '\r')
			n = (size_t)snprintf(esc, sizeof(esc), "\\r");
		else if (c == '\t')
			n = (size_t)snprintf(esc, sizeof(esc), "\\t");
		else if (c < 0x20 || c == 0x7f)
			n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
		else
			n = (esc[0] = (char)c, 1);
		if (o + n > GW_LOGQ_MAX) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}

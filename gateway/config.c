/*
 * config.c - skywave.conf: field tables, parsing, validation (see config.h).
 *
 * Flow: defaults from the tables -> one pass over the INI file (each key
 * checked against its table entry: type, range, duplicates) -> cross-field
 * validation (listener address, links referenced by routes, paths) ->
 * normalised fields. Every message names file:line.
 */
#include "gateway/config.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "firmware-profiles/profile.h"
#include "gateway/conneg/conneg.h"
#include "gateway/control/metrics_http.h"
#include "gateway/mail/policy.h"
#include "gateway/mail/route.h"
#include "link-drivers/drv.h"
#include "link-drivers/tcp.h"

#include <limits.h>
#include <sodium.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const log_levels[] = { "err", "warn", "info", "debug",
	NULL };
static const char *const prio_policies[] = { "STANAG4406", "MIXER", "NSEP",
	NULL };

#define GW struct config_gateway
const struct cfg_field config_gateway_fields[] = {
	CFG_STR_F(GW, hostname, "hostname", "", 0,
	    "name used in the greeting, EHLO and Received (default: system)"),
	CFG_STR_F(GW, listen, "listen", "127.0.0.1:2525", 3,
	    "SMTP listener, host:port or [v6]:port"),
	CFG_STR_F(GW, data_dir, "data_dir", "var", 1,
	    "directory for the queue database and the control socket"),
	CFG_STR_F(GW, queue_db, "queue_db", "", 0,
	    "queue database file (default data_dir/queue.db)"),
	CFG_STR_F(GW, control_socket, "control_socket", "", 0,
	    "operator control socket (default data_dir/control.sock)"),
	CFG_STR_F(GW, pid_file, "pid_file", "", 0,
	    "write the daemon's pid here (default: none)"),
	CFG_STR_F(GW, caps_file, "caps_file", "", 0,
	    "recipient capabilities for RCPT ... CONNEG (docs/conneg.md)"),
	CFG_STR_F(GW, control_group, "control_group", "", 0,
	    "group whose members may use the control socket (default: none)"),
	CFG_ENUM_F(GW, log_level, "log_level", "info", log_levels,
	    "lowest level logged"),
	CFG_STR_F(GW, debug, "debug", "", 0,
	    "subsystems logged at debug level: smtp,queue,link,... or all"),
	CFG_BOOL_F(GW, syslog, "syslog", "no", "also log to syslog (mail)"),
	CFG_SIZE_F(GW, max_message_size, "max_message_size", "10M", 65536,
	    1073741824, "largest message accepted (SIZE)"),
	CFG_INT_F(GW, max_recipients, "max_recipients", "100", 100, 100000,
	    "recipients per message (RFC 5321 requires at least 100)"),
	CFG_INT_F(GW, max_sessions, "max_sessions", "1000", 1, 100000,
	    "concurrent SMTP sessions in total"),
	CFG_INT_F(GW, max_sessions_per_client, "max_sessions_per_client", "50",
	    1, 100000, "concurrent SMTP sessions per client address"),
	CFG_INT_F(GW, max_errors, "max_errors", "20", 1, 1000,
	    "protocol errors before a session is closed"),
	CFG_DUR_F(GW, command_timeout_ms, "command_timeout", "5m", 1000,
	    3600000, "wait for the next command"),
	CFG_DUR_F(GW, data_timeout_ms, "data_timeout", "3m", 1000, 3600000,
	    "wait for the next block of message data"),
	CFG_BOOL_F(GW, altrecip, "altrecip", "yes",
	    "advertise ALTRECIP (ARCPT=, ABY=)"),
	CFG_BOOL_F(GW, conneg, "conneg", "yes", "advertise CONNEG"),
	CFG_BOOL_F(GW, conperm, "conperm", "yes", "advertise CONPERM"),
	CFG_DUR_F(GW, dup_retention_ms, "dup_retention", "7d", 3600000,
	    31536000000LL,
	    "how long ids of committed messages are kept for duplicates"),
	CFG_DUR_F(GW, dsn_sweep_interval_ms, "dsn_sweep_interval", "5m", 1000,
	    86400000, "how often DSNs still owed (FAILED) are looked for"),
	CFG_DUR_F(GW, risk_slack_ms, "risk_slack", "10m", 0, 604800000,
	    "deadlines panel: list messages with less slack than this"),
	CFG_DUR_F(GW, alert_link_down_ms, "alert_link_down", "5m", 0,
	    604800000, "alert when a link is down this long (0: off)"),
	CFG_DUR_F(GW, alert_band_age_ms, "alert_band_age", "1h", 0,
	    2592000000LL,
	    "alert when a band's oldest waiting message is older (0: off)"),
	CFG_SIZE_F(GW, alert_queue_bytes, "alert_queue_bytes", "100M", 0,
	    1099511627776LL, "alert when more bytes wait than this (0: off)"),
	CFG_BOOL_F(GW, alert_deadline_missed, "alert_deadline_missed", "yes",
	    "alert when a deadline is missed"),
	CFG_STR_F(GW, metrics_listen, "metrics_listen", "", 0,
	    "Prometheus metrics over HTTP on loopback, host:port (off)"),
	CFG_END,
};
#undef GW

#define PO struct config_policy
const struct cfg_field config_policy_fields[] = {
	CFG_ENUM_F(PO, priority_policy, "priority_policy", "STANAG4406",
	    prio_policies, "MT-PRIORITY assignment policy (RFC 6710)"),
	CFG_STR_F(PO, trusted_networks, "trusted_networks",
	    "127.0.0.0/8, ::1/128", 0,
	    "CIDR list of clients that may relay and raise priority"),
	CFG_STR_F(PO, priority_limits, "priority_limits", "", 0,
	    "CIDR=max list: highest priority per untrusted network"),
	CFG_INT_F(PO, untrusted_max_priority, "untrusted_max_priority", "0", -9,
	    9, "highest priority for untrusted clients not in priority_limits"),
	CFG_DUR_F(PO, deliverby_min_ms, "deliverby_min", "60s", 0, 86400000,
	    "smallest BY time accepted for mode R (advertised in EHLO)"),
	CFG_INT_F(PO, max_received, "max_received", "100", 10, 1000,
	    "Received headers after which a message is a loop"),
	CFG_BOOL_F(PO, priority_draft, "priority_draft", "no",
	    "also advertise the seed draft's PRIORITY (-99..99), mapped"),
	CFG_STR_F(PO, priority_draft_bands, "priority_draft_bands",
	    POLICY_DRAFT_DEFAULT, 0,
	    "PRIORITY ranges -> MT-PRIORITY values: LOW..HIGH=LEVEL, ..."),
	CFG_END,
};
#undef PO

#define LI struct airlink_cfg
const struct cfg_field config_link_fields[] = {
	CFG_ENUM_F(LI, driver, "driver", "serial", airlink_driver_names,
	    "how the modem is reached"),
	CFG_STR_F(LI, device, "device", "", 0,
	    "serial device path, or host:port for tcp"),
	CFG_STR_F(LI, profile, "profile", "", 0,
	    "firmware profile name or file"),
	CFG_STR_F(LI, peer, "peer", "", 0, "identity of the far gateway"),
	CFG_STR_F(LI, key_file, "key_file", "", 0,
	    "pre-shared link key file (frames authenticated when set)"),
	CFG_BOOL_F(LI, enabled, "enabled", "yes", "bring the link up at start"),
	CFG_BOOL_F(LI, pack, "pack", "yes",
	    "send base64/QP bodies decoded when that is lossless"),
	CFG_END,
};
#undef LI

#define SEEN_MAX 256

struct load_ctx {
	struct config *cfg;
	const char *file;
	char *err;
	size_t errlen;
	int nerr;
	/* every error, reported in line order once the file is read */
	struct load_err { int line; int seq; char msg[600]; } *errs;
	size_t nerrs;
	char seen[SEEN_MAX][96]; /* "section/key" already set */
	int seen_line[SEEN_MAX];
	int nseen;
	struct airlink_cfg *link; /* the [link NAME] being read */
};

static int
load_error(struct load_ctx *c, int code, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
load_error(struct load_ctx *c, int code, int line, const char *fmt, ...)
{
	va_list ap;
	char msg[600];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->errs = xrealloc(c->errs, (c->nerrs + 1) * sizeof(*c->errs));
	c->errs[c->nerrs].line = line;
	c->errs[c->nerrs].seq = (int)c->nerrs;
	snprintf(c->errs[c->nerrs].msg, sizeof(c->errs[0].msg), "%s", msg);
	c->nerrs++;
	c->nerr++;
	return code;
}

static int
err_cmp(const void *a, const void *b)
{
	const struct load_err *x = a, *y = b;
	/* errors without a line (whole-file checks) come last */
	int lx = x->line > 0 ? x->line : INT_MAX;
	int ly = y->line > 0 ? y->line : INT_MAX;

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->seq - y->seq;
}

/* All the errors, one per line in line order, into c->err. */
static void
format_errors(struct load_ctx *c)
{
	size_t o = 0;

	if (c->nerrs == 0 || c->errlen == 0)
		return;
	qsort(c->errs, c->nerrs, sizeof(*c->errs), err_cmp);
	c->err[0] = '\0';
	for (size_t i = 0; i < c->nerrs && o + 1 < c->errlen; i++) {
		int n;
		if (c->errs[i].line > 0)
			n = snprintf(c->err + o, c->errlen - o, "%s%s:%d: %s",
			    i ? "\n" : "", c->file, c->errs[i].line,
			    c->errs[i].msg);
		else
			n = snprintf(c->err + o, c->errlen - o, "%s%s: %s",
			    i ? "\n" : "", c->file, c->errs[i].msg);
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

/* Returns the line where section/key was first set, or 0 (and records it). */
static int
seen_before(struct load_ctx *c, const char *section, const char *key,
    int line)
{
	char k[96];

	snprintf(k, sizeof(k), "%s/%s", section, key);
	for (char *p = k; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (int i = 0; i < c->nseen; i++)
		if (strcmp(c->seen[i], k) == 0)
			return c->seen_line[i];
	if (c->nseen < SEEN_MAX) {
		snprintf(c->seen[c->nseen], sizeof(c->seen[0]), "%s", k);
		c->seen_line[c->nseen++] = line;
	}
	return 0;
}

static int
set_field(struct load_ctx *c, const struct cfg_field *tab, void *obj,
    const char *section, const char *key, const char *value, int line)
{
	const struct cfg_field *f = cfgtab_find(tab, key);
	char msg[400];
	int prev, rc;

	if (f == NULL)
		return load_error(c, GW_EINVAL, line, "unknown key \"%s\" in [%s]",
		    key, section);
	prev = seen_before(c, section, key, line);
	if (prev)
		return load_error(c, GW_EINVAL, line,
		    "duplicate key \"%s\" in [%s] (first set on line %d)", key,
		    section, prev);
	rc = cfgtab_set(f, obj, value, msg, sizeof(msg));
	if (rc != 0)
		return load_error(c, rc, line, "%s", msg);
	return 0;
}

static bool
valid_link_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= sizeof(((struct airlink_cfg *)0)->name))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

static bool
valid_domain_pattern(const char *p)
{
	if (strcmp(p, "*") == 0)
		return true;
	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	if (*p == '\0' || *p == '.' || strlen(p) > 253)
		return false;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
			return false;
	return p[-1] != '.';
}

static int
on_route(struct load_ctx *c, const char *key, const char *value, int line)
{
	struct config *cfg = c->cfg;
	struct route_line *r;

	if (!valid_domain_pattern(key))
		return load_error(c, GW_EINVAL, line,
		    "route: bad domain pattern \"%s\" (allowed: example.org, "
		    "*.example.org, *)", key);
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (strcasecmp(cfg->routes[i].pattern, key) == 0)
			return load_error(c, GW_EINVAL, line,
			    "route: duplicate pattern \"%s\" (first on line %d)",
			    key, cfg->routes[i].line);
	if (strncmp(value, "link:", 5) != 0 && strncmp(value, "smtp:", 5) != 0 &&
	    strncmp(value, "lmtp:", 5) != 0 &&
	    strncmp(value, "maildir:", 8) != 0 &&
	    strncmp(value, "b2f:", 4) != 0)
		return load_error(c, GW_EINVAL, line,
		    "route: bad target \"%s\" (allowed: link:NAME, "
		    "smtp:HOST:PORT[,HOST:PORT...], lmtp:HOST:PORT, "
		    "maildir:PATH, b2f:CALL[@HOST:PORT])", value);
	if (strchr(value, ':')[1] == '\0')
		return load_error(c, GW_EINVAL, line,
		    "route: empty target after \"%.*s\"",
		    (int)(strchr(value, ':') - value + 1), value);
	if (cfg->nroutes >= CONFIG_ROUTES_MAX)
		return load_error(c, GW_ERANGE, line,
		    "route: too many routes (max %d)", CONFIG_ROUTES_MAX);
	if (strlen(key) >= sizeof(r->pattern) ||
	    strlen(value) >= sizeof(r->target))
		return load_error(c, GW_ERANGE, line, "route: entry too long");
	r = &cfg->routes[cfg->nroutes++];
	snprintf(r->pattern, sizeof(r->pattern), "%s", key);
	snprintf(r->target, sizeof(r->target), "%s", value);
	r->line = line;
	return 0;
}

static struct airlink_cfg *
begin_link(struct load_ctx *c, const char *name, int line)
{
	struct config *cfg = c->cfg;
	struct airlink_cfg *l;
	char err[200];

	for (size_t i = 0; i < cfg->nlinks; i++)
		if (strcmp(cfg->links[i].name, name) == 0)
			return &cfg->links[i];
	if (!valid_link_name(name)) {
		load_error(c, GW_EINVAL, line,
		    "bad link name \"%s\" (allowed: 1..31 of A-Z a-z 0-9 - _)",
		    name);
		return NULL;
	}
	if (cfg->nlinks >= CONFIG_LINKS_MAX) {
		load_error(c, GW_ERANGE, line, "too many links (max %d)",
		    CONFIG_LINKS_MAX);
		return NULL;
	}
	l = &cfg->links[cfg->nlinks++];
	memset(l, 0, sizeof(*l));
	GW_REQUIRE(cfgtab_defaults(config_link_fields, l, err, sizeof(err)) ==
	    0);
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->line = line;
	return l;
}

static int
on_key(void *user, const char *section, const char *key, const char *value,
    int line)
{
	struct load_ctx *c = user;
	struct config *cfg = c->cfg;

	if (strcasecmp(section, "gateway") == 0)
		return set_field(c, config_gateway_fields, &cfg->gw, "gateway",
		    key, value, line);
	if (strcasecmp(section, "policy") == 0) {
		char msg[400];
		int rc;
		if (cfgtab_find(config_policy_fields, key) != NULL)
			return set_field(c, config_policy_fields, &cfg->policy,
			    "policy", key, value, line);
		/* scheduler, alternate-recipient and retry keys */
		rc = sched_cfg_set(&cfg->sched, key, value, msg, sizeof(msg));
		if (rc == GW_ENOENT)
			return load_error(c, GW_EINVAL, line,
			    "unknown key \"%s\" in [policy]", key);
		int prev = seen_before(c, "policy", key, line);
		if (prev)
			return load_error(c, GW_EINVAL, line,
			    "duplicate key \"%s\" in [policy] (first set on "
			    "line %d)", key, prev);
		if (rc != 0)
			return load_error(c, rc, line, "%s", msg);
		return 0;
	}
	if (strcasecmp(section, "route") == 0)
		return on_route(c, key, value, line);
	if (strcasecmp(section, "delivery") == 0)
		return set_field(c, deliver_cfg_fields, &cfg->delivery,
		    "delivery", key, value, line);
	if (strcasecmp(section, "b2f") == 0)
		return set_field(c, b2f_cfg_fields, &cfg->b2f, "b2f", key,
		    value, line);
	if (strncasecmp(section, "link ", 5) == 0) {
		const char *name = section + 5;
		while (*name == ' ')
			name++;
		struct airlink_cfg *l = begin_link(c, name, line);
		if (l == NULL)
			return GW_EINVAL;
		return set_field(c, config_link_fields, l, section, key, value,
		    line);
	}
	if (section[0] == '\0')
		return load_error(c, GW_EINVAL, line,
		    "key \"%s\" outside any section", key);
	return load_error(c, GW_EINVAL, line,
	    "unknown section [%s] (allowed: gateway, policy, link NAME, route, "
	    "delivery, b2f)",
	    section);
}

/* Split "host:port" or "[v6]:port". */
static int
split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon;
	size_t hl;
	int64_t p;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return GW_EINVAL;
		hl = (size_t)(end - s - 1);
		if (hl >= hostlen)
			return GW_EINVAL;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || colon == s)
			return GW_EINVAL;
		hl = (size_t)(colon - s);
		if (hl >= hostlen || memchr(s, ':', hl) != NULL)
			return GW_EINVAL;
		memcpy(host, s, hl);
		host[hl] = '\0';
	}
	if (cfg_parse_int(colon + 1, &p) != 0 || p < 1 || p > 65535)
		return GW_ERANGE;
	*port = (int)p;
	return 0;
}

static int
seen_line(const struct load_ctx *c, const char *section, const char *key)
{
	char k[96];

	snprintf(k, sizeof(k), "%s/%s", section, key);
	for (int i = 0; i < c->nseen; i++)
		if (strcmp(c->seen[i], k) == 0)
			return c->seen_line[i];
	return 0;
}

static void
validate(struct load_ctx *c)
{
	struct config *cfg = c->cfg;
	unsigned char addr[16];

	if (split_hostport(cfg->gw.listen, cfg->listen_host,
		sizeof(cfg->listen_host), &cfg->listen_port) != 0 ||
	    (inet_pton(AF_INET, cfg->listen_host, addr) != 1 &&
		inet_pton(AF_INET6, cfg->listen_host, addr) != 1))
		load_error(c, GW_EINVAL, seen_line(c, "gateway", "listen"),
		    "listen: bad address \"%s\" (allowed: IPv4:port or "
		    "[IPv6]:port, port 1..65535)", cfg->gw.listen);

	char mhost[64];
	int mport;
	if (cfg->gw.metrics_listen[0] && metrics_http_parse(
	    cfg->gw.metrics_listen, mhost, sizeof(mhost), &mport) != 0)
		load_error(c, GW_EINVAL, seen_line(c, "gateway",
		    "metrics_listen"), "metrics_listen: \"%s\" is not a "
		    "loopback host:port (127.0.0.1:PORT or [::1]:PORT)",
		    cfg->gw.metrics_listen);

	struct policy_net *nets = NULL;
	size_t nnets = 0;
	char msg[400];
	if (sched_cfg_check(&cfg->sched, msg, sizeof(msg)) != 0)
		load_error(c, GW_ERANGE, 0, "[policy]: %s", msg);
	if (policy_parse_networks(cfg->policy.trusted_networks, &nets, &nnets,
		msg, sizeof(msg)) != 0)
		load_error(c, GW_EINVAL,
		    seen_line(c, "policy", "trusted_networks"),
		    "trusted_networks: %s", msg);
	free(nets);
	nets = NULL;
	if (policy_parse_priority_limits(cfg->policy.priority_limits, &nets,
		&nnets, msg, sizeof(msg)) != 0)
		load_error(c, GW_EINVAL,
		    seen_line(c, "policy", "priority_limits"),
		    "priority_limits: %s", msg);
	free(nets);
	if (policy_parse_draft(cfg->policy.priority_draft_bands,
		&cfg->prio_draft, msg, sizeof(msg)) != 0)
		load_error(c, GW_EINVAL,
		    seen_line(c, "policy", "priority_draft_bands"),
		    "priority_draft_bands: %s", msg);
	for (size_t i = 0; i < cfg->nroutes; i++) {
		struct route_target t;
		if (route_target_parse(cfg->routes[i].target, &t, msg,
			sizeof(msg)) != 0)
			load_error(c, GW_EINVAL, cfg->routes[i].line,
			    "route %s: %s", cfg->routes[i].pattern, msg);
	}

	if (cfg->gw.caps_file[0]) {
		struct conneg_table *t = NULL;
		if (conneg_table_load(cfg->gw.caps_file, &t, msg,
			sizeof(msg)) != 0)
			load_error(c, GW_EINVAL,
			    seen_line(c, "gateway", "caps_file"),
			    "caps_file: %s", msg);
		conneg_table_free(t);
	}

	struct drv_registry reg;
	drv_registry_init(&reg);
	drv_registry_add_builtin(&reg);
	for (size_t i = 0; i < cfg->nlinks; i++) {
		const struct airlink_cfg *l = &cfg->links[i];
		uint8_t key[AIRLINK_KEY_BYTES];
		char sec[48];
		int pl, kl;
		snprintf(sec, sizeof(sec), "link %s", l->name);
		pl = seen_line(c, sec, "profile");
		kl = seen_line(c, sec, "key_file");
		if (l->profile[0] == '\0') {
			load_error(c, GW_EINVAL, l->line,
			    "[link %s]: profile is required", l->name);
		} else {
			/* the daemon loads it at start: so does the check */
			struct prof prof;
			if (prof_load_named(l->profile, NULL, &prof, msg,
				sizeof(msg)) != 0)
				load_error(c, GW_EINVAL, pl ? pl : l->line,
				    "[link %s]: profile %s: %s",
				    l->name, l->profile, msg);
			else
				prof_free(&prof);
		}
		if (l->key_file[0] && airlink_load_key(l->key_file, key, msg,
			sizeof(msg)) != 0)
			load_error(c, GW_EINVAL, kl ? kl : l->line,
			    "[link %s]: %s", l->name, msg);
		sodium_memzero(key, sizeof(key));
		if (l->device[0] == '\0' && l->driver != AIRLINK_DRV_SIM)
			load_error(c, GW_EINVAL, l->line,
			    "[link %s]: device is required for driver %s",
			    l->name, airlink_driver_names[l->driver]);
		/* the drivers the daemon has (as it will look them up) */
		if (drv_find(&reg, airlink_driver_names[l->driver]) == NULL)
			load_error(c, GW_EINVAL, seen_line(c, sec, "driver") ?
			    seen_line(c, sec, "driver") : l->line,
			    "[link %s]: driver %s is not built into skywaved "
			    "(use pty with skywave-sim, serial, kiss or tcp)",
			    l->name, airlink_driver_names[l->driver]);
		char th[256], tp[16];
		if (l->driver == AIRLINK_DRV_TCP && l->device[0] &&
		    tcp_split_hostport(l->device, th, sizeof(th), tp,
			sizeof(tp)) < 0)
			load_error(c, GW_EINVAL, seen_line(c, sec, "device") ?
			    seen_line(c, sec, "device") : l->line,
			    "[link %s]: device \"%s\": want host:port for "
			    "driver tcp", l->name, l->device);
	}
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route_line *r = &cfg->routes[i];
		const char *link = route_link_name(r->target);
		if (link == NULL)
			continue;
		bool found = false;
		for (size_t j = 0; j < cfg->nlinks; j++)
			if (strcmp(cfg->links[j].name, link) == 0)
				found = true;
		if (!found)
			load_error(c, GW_EINVAL, r->line,
			    "route %s: no [link %s] is declared", r->pattern,
			    link);
	}
}

static struct config *
config_new_defaults(void)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	char err[256];

	GW_REQUIRE(cfgtab_defaults(config_gateway_fields, &cfg->gw, err,
		       sizeof(err)) == 0);
	GW_REQUIRE(cfgtab_defaults(config_policy_fields, &cfg->policy, err,
		       sizeof(err)) == 0);
	sched_cfg_default(&cfg->sched);
	deliver_cfg_default(&cfg->delivery);
	b2f_cfg_default(&cfg->b2f);
	return cfg;
}

static int
finish_load(struct load_ctx *c, int rc, struct config **out)
{
	/* A file that was read to its end is validated even when some keys
	 * were refused, so every error is reported at once. */
	if (rc == 0)
		validate(c);
	if (rc == 0 && c->nerr > 0)
		rc = GW_ECONFIG;
	if (rc == GW_ECONFIG)
		format_errors(c);
	free(c->errs);
	c->errs = NULL;
	if (rc != 0) {
		config_free(c->cfg);
		return rc;
	}
	*out = c->cfg;
	return 0;
}

int
config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	struct load_ctx *c = xcalloc(1, sizeof(*c));
	int rc;

	c->cfg = config_new_defaults();
	c->file = path;
	c->err = err;
	c->errlen = errlen;
	snprintf(c->cfg->path, sizeof(c->cfg->path), "%s", path);
	rc = cfg_ini_parse_file(path, on_key, c, err, errlen);
	if (rc == GW_ESYNTAX || rc == GW_ENOENT)
		c->nerr++;
	else if (rc != 0)
		rc = 0; /* handler errors are counted in c->nerr */
	rc = finish_load(c, rc, out);
	free(c);
	return rc;
}

int
config_load_string(const char *text, const char *name, struct config **out,
    char *err, size_t errlen)
{
	struct load_ctx *c = xcalloc(1, sizeof(*c));
	int rc;

	c->cfg = config_new_defaults();
	c->file = name;
	c->err = err;
	c->errlen = errlen;
	rc = cfg_ini_parse_string(text, name, on_key, c, err, errlen);
	if (rc == GW_ESYNTAX)
		c->nerr++;
	else if (rc != 0)
		rc = 0;
	rc = finish_load(c, rc, out);
	free(c);
	return rc;
}

struct config *
config_default(void)
{
	struct config *cfg;
	char err[256];

	GW_REQUIRE(config_load_string("", "(built-in)", &cfg, err,
		       sizeof(err)) == 0);
	return cfg;
}

void
config_free(struct config *cfg)
{
	free(cfg);
}

static void
data_path(const struct config *cfg, const char *set, const char *leaf,
    char *out, size_t len)
{
	if (set[0] != '\0')
		snprintf(out, len, "%s", set);
	else
		snprintf(out, len, "%s/%s", cfg->gw.data_dir, leaf);
}

void
config_queue_path(const struct config *cfg, char *out, size_t len)
{
	data_path(cfg, cfg->gw.queue_db, "queue.db", out, len);
}

void
config_control_path(const struct config *cfg, char *out, size_t len)
{
	data_path(cfg, cfg->gw.control_socket, "control.sock", out, len);
}

static void
dump_table(const struct cfg_field *tab, const void *obj, FILE *fp)
{
	char v[600];

	for (; tab->key; tab++) {
		cfgtab_format(tab, obj, v, sizeof(v));
		fprintf(fp, "%s = %s\n", tab->key, v);
	}
}

void
config_dump(const struct config *cfg, FILE *fp)
{
	fprintf(fp, "[gateway]\n");
	dump_table(config_gateway_fields, &cfg->gw, fp);
	fprintf(fp, "\n[policy]\n");
	dump_table(config_policy_fields, &cfg->policy, fp);
	dump_table(sched_cfg_fields, &cfg->sched, fp);
	dump_table(sched_rules_cfg_fields, &cfg->sched.rules, fp);
	dump_table(retry_cfg_fields, &cfg->sched.retry, fp);
	fprintf(fp, "\n[delivery]\n");
	dump_table(deliver_cfg_fields, &cfg->delivery, fp);
	fprintf(fp, "\n[b2f]\n");
	dump_table(b2f_cfg_fields, &cfg->b2f, fp);
	for (size_t i = 0; i < cfg->nlinks; i++) {
		fprintf(fp, "\n[link %s]\n", cfg->links[i].name);
		dump_table(config_link_fields, &cfg->links[i], fp);
	}
	if (cfg->nroutes) {
		fprintf(fp, "\n[route]\n");
		for (size_t i = 0; i < cfg->nroutes; i++)
			fprintf(fp, "%s = %s\n", cfg->routes[i].pattern,
			    cfg->routes[i].target);
	}
}

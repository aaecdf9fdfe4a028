/*
 * config.h - skywave.conf: one INI file mapped through field tables into an
 * immutable struct config.
 *
 * Sections:
 *   [gateway]     identity, listener, storage, limits, logging
 *   [policy]      trust, priorities, deadlines
 *   [link NAME]   one radio link (driver, device, profile, peer, key)
 *   [delivery]    the onward SMTP/LMTP client (timeouts, connections)
 *   [route]       "domain-pattern = target" lines, in file order
 *   [b2f]         the Winlink B2F endpoint (b2f.h), off by default
 *
 * Parse -> validate -> normalise: config_load() returns a complete, checked
 * struct or an error naming file:line and the allowed values; nothing
 * half-built escapes. An unknown section or key is an error. With no file,
 * config_default() gives the built-in default configuration (SQLite under
 * ./var, SMTP on 127.0.0.1:2525).
 *
 * Ownership: the daemon owns the current struct config; a reload builds a new
 * one and swaps it in only if it loaded cleanly. Read-only after load.
 */
#ifndef GW_GATEWAY_CONFIG_H
#define GW_GATEWAY_CONFIG_H

#include "common/cfgtab.h"
#include "gateway/air/airlink.h"
#include "gateway/b2f/b2f.h"
#include "gateway/deliver/deliver.h"
#include "gateway/mail/policy.h"
#include "gateway/mail/route.h"
#include "gateway/sched/sched.h"

#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_LINKS_MAX 16
#define CONFIG_ROUTES_MAX ROUTE_LINES_MAX
#define CONFIG_PATH_MAX 512

enum config_prio_policy { CONFIG_PRIO_STANAG4406 = 0, CONFIG_PRIO_MIXER,
	CONFIG_PRIO_NSEP };

struct config_gateway {
	char hostname[256];        /* "" = the system's host name */
	char listen[300];          /* SMTP "host:port" */
	char data_dir[CONFIG_PATH_MAX];
	char queue_db[CONFIG_PATH_MAX];       /* "" = data_dir/queue.db */
	char control_socket[CONFIG_PATH_MAX]; /* "" = data_dir/control.sock */
	char pid_file[CONFIG_PATH_MAX];       /* "" = none */
	char control_group[64];    /* operator group for the socket, "" none */
	char caps_file[CONFIG_PATH_MAX]; /* recipient capabilities, "" none */
	int log_level;             /* enum gw_log_level */
	char debug[128];           /* debug subsystems: "smtp,queue", "all" */
	bool syslog;
	int64_t max_message_size;
	int64_t max_recipients;
	int64_t max_sessions;
	int64_t max_sessions_per_client;
	int64_t max_errors;
	int64_t command_timeout_ms;
	int64_t data_timeout_ms;
	bool altrecip;             /* advertise ALTRECIP */
	bool conneg;               /* advertise CONNEG */
	bool conperm;              /* advertise CONPERM */
	int64_t dup_retention_ms;  /* how long committed ids are remembered */
	int64_t dsn_sweep_interval_ms; /* passes over FAILED recipients */
	int64_t risk_slack_ms;     /* deadlines panel threshold */
	int64_t alert_link_down_ms; /* alert thresholds, 0: off */
	int64_t alert_band_age_ms;
	int64_t alert_queue_bytes;
	bool alert_deadline_missed;
	char metrics_listen[64];   /* loopback host:port, "" none */
};

struct config_policy {
	int priority_policy;       /* enum config_prio_policy */
	char trusted_networks[190];
	char priority_limits[190]; /* "CIDR=max, ..." for untrusted networks */
	int64_t untrusted_max_priority;
	int64_t deliverby_min_ms;
	int64_t max_received;      /* loop detection: Received headers */
	bool priority_draft;       /* also the 2011 draft's PRIORITY= */
	char priority_draft_bands[190]; /* its ranges -> MT-PRIORITY */
};



struct config {
	char path[CONFIG_PATH_MAX]; /* "" for the built-in default */
	struct config_gateway gw;
	struct config_policy policy;
	struct sched_cfg sched;     /* [policy] scheduler, deadline, retry keys */
	struct deliver_cfg delivery; /* [delivery] onward SMTP/LMTP client */
	struct b2f_cfg b2f;         /* [b2f] Winlink B2F endpoint */
	struct airlink_cfg links[CONFIG_LINKS_MAX];
	size_t nlinks;
	struct route_line routes[CONFIG_ROUTES_MAX];
	size_t nroutes;
	/* normalised */
	char listen_host[256];
	int listen_port;
	struct policy_draft prio_draft; /* priority_draft_bands, parsed */
};

/* Load and validate path into a new struct. Returns 0 and *out, or
 * GW_ENOENT / GW_ESYNTAX / GW_EINVAL / GW_ERANGE / GW_ECONFIG with a message
 * ("file:line: key: ... (allowed: ...)") in err. */
int config_load(const char *path, struct config **out, char *err,
    size_t errlen);
/* The same from a string (name used in messages). */
int config_load_string(const char *text, const char *name,
    struct config **out, char *err, size_t errlen);
/* The built-in default configuration. */
struct config *config_default(void);
void config_free(struct config *cfg);

/* Effective paths (defaults resolved against data_dir). */
void config_queue_path(const struct config *cfg, char *out, size_t len);
void config_control_path(const struct config *cfg, char *out, size_t len);

/* The field tables, for documentation and the man page check. */
extern const struct cfg_field config_gateway_fields[];
extern const struct cfg_field config_policy_fields[];
extern const struct cfg_field config_link_fields[];

/* Write the effective configuration as INI text (--check-config -v). */
void config_dump(const struct config *cfg, FILE *fp);

#endif

/*
 * daemon.c - skywaved's loop, signals and lifecycle (see daemon.h).
 *
 * Owner: the main thread. Every component is started from here and closed
 * from here in reverse order; frees happen only after the last close
 * callback.
 */
#include "gateway/daemon.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/air/airlink.h"
#include "gateway/b2f/b2f.h"
#include "gateway/conneg/conneg.h"
#include "gateway/conneg/conv.h"
#include "gateway/ctlops.h"
#include "gateway/deliver/dispatch.h"
#include "gateway/mail/intake.h"
#include "gateway/mail/policy.h"
#include "gateway/mail/route.h"
#include "gateway/monitor.h"
#include "gateway/sched/planner.h"
#include "gateway/smtp/smtp_server.h"
#include "gateway/sweep.h"
#include "link-drivers/drv.h"
#include "queue/queue.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <uv.h>

enum gw_state { GW_S_STARTING, GW_S_RUNNING, GW_S_STOPPING };

struct gw {
	uv_loop_t loop;
	struct config *cfg;
	const struct daemon_opts *opts;
	uv_signal_t sig_term, sig_int, sig_hup;
	enum gw_state state;
	int exit_code;
	char hostname[256];
	struct queue *queue;
	struct policy *policy;
	struct route_table *routes;
	struct smtp_server *smtp;
	struct b2f *b2f;             /* Winlink B2F endpoint, or NULL */
	struct intake *intake;      /* the front door */
	struct dispatch *dispatch;
	struct planner *planner;
	struct drv_registry drivers;
	struct airlink *links[CONFIG_LINKS_MAX];
	size_t nlinks;
	size_t links_closing;
	struct ctlops *ctl;
	char ctl_path[CONFIG_PATH_MAX + 16];
	struct conneg_table *caps;   /* RCPT ... CONNEG answers, or NULL */
	struct sweep *sweep;         /* a pass over FAILED, or NULL */
	uv_timer_t sweep_timer;      /* passes after start (see on_sweep_tick) */
	bool sweep_timer_on;
};

/* After start, a pass over FAILED recipients every dsn_sweep_interval: it
 * finds work only when a DSN could not be queued at the time (disk full,
 * I/O error); partial index, so an idle pass costs next to nothing. */

/* The capability table of cfg (NULL when none is configured). */
static int
load_caps(const struct config *cfg, struct conneg_table **out, char *err,
    size_t errlen)
{
	*out = NULL;
	if (cfg->gw.caps_file[0] == '\0')
		return 0;
	return conneg_table_load(cfg->gw.caps_file, out, err, errlen);
}

/* The alert thresholds of cfg. */
static void
alert_cfg(const struct config *cfg, struct monitor_cfg *mc)
{
	mc->link_down_ms = cfg->gw.alert_link_down_ms;
	mc->band_age_ms = cfg->gw.alert_band_age_ms;
	mc->queue_bytes = cfg->gw.alert_queue_bytes;
	mc->deadline_missed = cfg->gw.alert_deadline_missed;
}

/* Build the policy and route table of cfg; 0 or an error with err set. */
static int
build_policy(const struct config *cfg, struct policy **pol,
    struct route_table **rt, char *err, size_t errlen)
{
	struct policy_config pc;
	static const char *const names[] = { "STANAG4406", "MIXER", "NSEP" };
	int rc;

	policy_config_init(&pc);
	pc.priority_policy = names[cfg->policy.priority_policy];
	pc.trusted_networks = cfg->policy.trusted_networks;
	pc.priority_limits = cfg->policy.priority_limits;
	pc.untrusted_max_priority = (int)cfg->policy.untrusted_max_priority;
	pc.max_received = (int)cfg->policy.max_received;
	rc = policy_new(&pc, pol, err, errlen);
	if (rc != 0)
		return rc;
	rc = route_table_new(cfg->routes, cfg->nroutes, rt, err, errlen);
	if (rc != 0) {
		policy_free(*pol);
		*pol = NULL;
	}
	return rc;
}

/* No open relay: an untrusted client may send only to domains that have a
 * route of their own; the catch-all "*" route serves trusted clients. */
static bool
accept_rcpt(void *arg, const char *addr)
{
	struct gw *gw = arg;
	const char *pat = route_lookup_pattern(gw->routes, addr);

	return pat != NULL && strcmp(pat, "*") != 0;
}

/* Every accepted message is routed before it is stored. */
static int
submit_routed(void *arg, struct queue_envelope *env, struct buf *content,
    queue_submit_cb cb, void *cb_arg)
{
	struct gw *gw = arg;

	if (gw->intake == NULL || gw->dispatch == NULL)
		return GW_ECLOSED;
	return intake_submit(gw->intake, env, content, NULL, 0, cb, cb_arg);
}

static void
kick_dispatch(void *arg)
{
	struct gw *gw = arg;

	if (gw->dispatch)
		dispatch_kick(gw->dispatch);
}

static void
kick_link(void *arg, const char *name)
{
	struct gw *gw = arg;

	for (size_t i = 0; i < gw->nlinks; i++)
		if (name == NULL || strcmp(airlink_name(gw->links[i]), name) == 0)
			airlink_kick(gw->links[i]);
}

/* What the delivery runner takes from the configuration. */
static void
dispatch_cfg_of(const struct config *cfg, struct dispatch_cfg *dc)
{
	memset(dc, 0, sizeof(*dc));
	dc->delivery = &cfg->delivery;
	dc->retry = cfg->sched.retry;
	dc->max_received = cfg->policy.max_received;
	dc->prio_draft = cfg->policy.priority_draft;
	dc->prio_draft_map = cfg->prio_draft;
	dc->routes = cfg->routes;
	dc->nroutes = cfg->nroutes;
}

/* RCPT ... CONNEG answers, route-aware: a recipient routed over a link
 * gets what the far gateway published on that link, else what our own
 * caps_file says; NULL (the plain reply) when neither knows it. */
static const char *
gw_conneg_lookup(void *arg, const char *addr)
{
	struct gw *gw = arg;
	const struct route_target *t = route_lookup(gw->routes, addr);
	const char *f = NULL;

	if (t != NULL && t->kind == ROUTE_LINK) {
		for (size_t i = 0; i < gw->nlinks && f == NULL; i++)
			if (strcmp(airlink_name(gw->links[i]), t->arg) == 0)
				f = airlink_caps_lookup(gw->links[i], addr);
	}
	if (f == NULL && gw->caps != NULL)
		f = conneg_lookup(gw->caps, addr);
	return f;
}

static void
smtp_opts_from_config(struct gw *gw, struct smtp_server_opts *o)
{
	const struct config *cfg = gw->cfg;

	smtp_server_opts_init(o);
	o->hostname = gw->hostname;
	o->listen_host = cfg->listen_host;
	o->listen_port = cfg->listen_port;
	o->max_message_size = cfg->gw.max_message_size;
	o->max_recipients = (size_t)cfg->gw.max_recipients;
	o->max_sessions = (size_t)cfg->gw.max_sessions;
	o->max_sessions_per_client = (size_t)cfg->gw.max_sessions_per_client;
	o->max_errors = (int)cfg->gw.max_errors;
	o->command_timeout_ms = cfg->gw.command_timeout_ms;
	o->data_timeout_ms = cfg->gw.data_timeout_ms;
	o->deliverby_min_s = cfg->policy.deliverby_min_ms / 1000;
	o->policy = gw->policy;
	o->altrecip = cfg->gw.altrecip;
	o->conneg = cfg->gw.conneg;
	o->conperm = cfg->gw.conperm;
	o->prio_draft = cfg->policy.priority_draft;
	o->prio_draft_map = cfg->prio_draft;
	o->accept_rcpt = accept_rcpt;
	o->accept_arg = gw;
	o->submit = submit_routed;
	o->submit_arg = gw;
	/* Always on: a link may bring a far gateway's table at any time. */
	o->conneg_lookup = gw_conneg_lookup;
	o->conneg_arg = gw;
}

static void
apply_logging(const struct config *cfg, bool foreground)
{
	gw_log_set_level((enum gw_log_level)cfg->gw.log_level);
	gw_log_set_debug(cfg->gw.debug);
	/* A daemon without a terminal logs to syslog whatever the setting. */
	gw_log_set_syslog(cfg->gw.syslog || !foreground);
}

/* mkdir -p for the data directory (start-up only, before the loop runs). */
static int
make_dirs(const char *path)
{
	char tmp[CONFIG_PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int
write_pid_file(const char *path)
{
	char tmp[CONFIG_PATH_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return -errno;
	return 0;
}

static void
signal_ready(const struct daemon_opts *opts, unsigned char code)
{
	if (opts->ready_fd >= 0) {
		ssize_t w = write(opts->ready_fd, &code, 1);
		(void)w; /* the parent reports a missing byte itself */
		close(opts->ready_fd);
	}
}

static void
on_handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void
on_queue_closed(void *arg)
{
	struct gw *gw = arg;

	GW_LOGI("daemon", "event=queue_closed");
	gw->queue = NULL;
}

static void
close_queue(struct gw *gw)
{
	if (gw->queue)
		queue_close(gw->queue, on_queue_closed, gw);
}

static void
on_dispatch_closed(void *arg)
{
	struct gw *gw = arg;

	gw->dispatch = NULL;
	close_queue(gw);
}

static void
close_dispatch(struct gw *gw)
{
	if (gw->dispatch)
		dispatch_close(gw->dispatch, on_dispatch_closed, gw);
	else
		close_queue(gw);
}

static void
on_planner_closed(void *arg)
{
	close_dispatch(arg);
}

/* The planner stops deciding before dispatch, which carries out its DSNs,
 * closes; it is freed after the loop. */
static void
close_planner(struct gw *gw)
{
	if (gw->planner)
		planner_close(gw->planner, on_planner_closed, gw);
	else
		close_dispatch(gw);
}

static void
on_link_closed(void *arg)
{
	struct gw *gw = arg;

	if (--gw->links_closing == 0) {
		gw->nlinks = 0;
		close_planner(gw);
	}
}

static void
close_links(struct gw *gw)
{
	if (gw->nlinks == 0) {
		close_planner(gw);
		return;
	}
	gw->links_closing = gw->nlinks;
	for (size_t i = 0; i < gw->nlinks; i++)
		airlink_close(gw->links[i], on_link_closed, gw);
}

static void
on_smtp_closed(void *arg)
{
	struct gw *gw = arg;

	GW_LOGI("daemon", "event=smtp_closed");
	close_links(gw);
}

/* A sweep of FAILED recipients is over (sweep.h). */
static void
on_swept(void *arg, size_t rcpts, size_t dsns)
{
	struct gw *gw = arg;

	(void)rcpts;
	(void)dsns;
	gw->sweep = NULL;
}

static void
start_sweep(struct gw *gw)
{
	struct sweep_env swe = { &gw->loop, gw->queue, gw->intake,
		clk_system(), gw->hostname };
	int rc;

	if (gw->sweep != NULL || gw->queue == NULL)
		return;
	rc = sweep_start(&swe, on_swept, gw, &gw->sweep);
	if (rc != 0) {
		gw->sweep = NULL;
		GW_LOGW("daemon", "event=sweep_not_started error=%s",
		    gw_errname(rc));
	}
}

static void
on_sweep_tick(uv_timer_t *t)
{
	struct gw *gw = t->data;

	if (gw->state == GW_S_RUNNING)
		start_sweep(gw);
}

static void
gw_stop(struct gw *gw, const char *reason)
{
	if (gw->state == GW_S_STOPPING)
		return;
	gw->state = GW_S_STOPPING;
	GW_LOGI("daemon", "event=stopping reason=%s", reason);
	uv_close((uv_handle_t *)&gw->sig_term, on_handle_closed);
	uv_close((uv_handle_t *)&gw->sig_int, on_handle_closed);
	uv_close((uv_handle_t *)&gw->sig_hup, on_handle_closed);
	/* Closing the handles gives the signals back their default action:
	 * a second SIGTERM/SIGINT (a supervisor or a script repeating it)
	 * would kill us in the middle of the shutdown. The stop is under
	 * way; further requests to stop are ignored. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (gw->ctl) {
		ctlops_close(gw->ctl, NULL, NULL);
		gw->ctl = NULL;
	}
	if (gw->sweep) {
		sweep_cancel(gw->sweep);
		gw->sweep = NULL;
	}
	if (gw->sweep_timer_on) {
		uv_close((uv_handle_t *)&gw->sweep_timer, on_handle_closed);
		gw->sweep_timer_on = false;
	}
	/* B2F sessions end first: their waiting messages are deferred while
	 * dispatch still stores outcomes. */
	if (gw->b2f) {
		dispatch_set_b2f(gw->dispatch, NULL, NULL);
		b2f_close(gw->b2f, NULL, NULL);
		gw->b2f = NULL;
	}
	/* Listener and sessions first (a session waiting for a commit gets
	 * its reply), then the queue once nothing can submit any more. */
	if (gw->smtp) {
		struct smtp_server *srv = gw->smtp;
		gw->smtp = NULL;
		smtp_server_close(srv, on_smtp_closed, gw);
	} else {
		close_links(gw);
	}
}

static void
gw_reload(struct gw *gw)
{
	struct config *ncfg;
	char err[700];
	int rc;

	if (gw->opts->config_path == NULL) {
		GW_LOGI("daemon",
		    "event=reload result=unchanged reason=\"built-in "
		    "configuration\"");
		return;
	}
	rc = config_load(gw->opts->config_path, &ncfg, err, sizeof(err));
	if (rc != 0) {
		GW_LOGE("daemon",
		    "event=reload result=rejected error=%s reason=\"%s\" "
		    "note=\"previous configuration stays\"",
		    gw_errname(rc), gw_logq(err));
		return;
	}
	if (strcmp(ncfg->gw.listen, gw->cfg->gw.listen) != 0 ||
	    strcmp(ncfg->gw.data_dir, gw->cfg->gw.data_dir) != 0 ||
	    strcmp(ncfg->gw.queue_db, gw->cfg->gw.queue_db) != 0)
		GW_LOGW("daemon",
		    "event=reload note=\"listen, data_dir and queue_db take "
		    "effect at the next restart\"");
	if (memcmp(&ncfg->b2f, &gw->cfg->b2f, sizeof(ncfg->b2f)) != 0)
		GW_LOGW("daemon",
		    "event=reload note=\"[b2f] takes effect at the next "
		    "restart\"");
	struct policy *npol;
	struct route_table *nrt;
	rc = build_policy(ncfg, &npol, &nrt, err, sizeof(err));
	if (rc != 0) {
		GW_LOGE("daemon",
		    "event=reload result=rejected error=%s reason=\"%s\" "
		    "note=\"previous configuration stays\"",
		    gw_errname(rc), gw_logq(err));
		config_free(ncfg);
		return;
	}
	struct conneg_table *ncaps;
	rc = load_caps(ncfg, &ncaps, err, sizeof(err));
	if (rc != 0) {
		GW_LOGE("daemon", "event=reload result=rejected reason=\"caps_file: "
		    "%s\" note=\"previous configuration stays\"", err);
		config_free(ncfg);
		policy_free(npol);
		route_table_free(nrt);
		return;
	}
	struct conneg_table *ocaps = gw->caps;
	gw->caps = ncaps;
	struct config *ocfg = gw->cfg;
	struct policy *opol = gw->policy;
	struct route_table *ort = gw->routes;
	gw->cfg = ncfg;
	gw->policy = npol;
	gw->routes = nrt;
	if (gw->smtp) {
		struct smtp_server_opts so;
		smtp_opts_from_config(gw, &so);
		rc = smtp_server_reconfigure(gw->smtp, &so);
		if (rc != 0) {
			GW_LOGE("daemon", "event=reload result=rejected "
			    "reason=\"smtp limits refused\" error=%s",
			    gw_errname(rc));
			gw->cfg = ocfg;
			gw->policy = opol;
			gw->routes = ort;
			gw->caps = ocaps;
			config_free(ncfg);
			policy_free(npol);
			route_table_free(nrt);
			conneg_table_free(ncaps);
			return;
		}
	}
	intake_set_routes(gw->intake, nrt, npol);
	if (gw->dispatch) {
		struct dispatch_cfg dc;
		dispatch_cfg_of(ncfg, &dc);
		dispatch_reconfigure(gw->dispatch, &dc, nrt);
	}
	if (gw->b2f)
		b2f_set_policy(gw->b2f, npol);
	if (gw->planner)
		planner_reconfigure(gw->planner, &ncfg->sched);
	if (gw->ctl) {
		struct monitor_cfg mc;
		alert_cfg(ncfg, &mc);
		ctlops_reconfigure(gw->ctl, &mc, ncfg->gw.risk_slack_ms);
	}
	if (gw->sweep_timer_on)
		uv_timer_start(&gw->sweep_timer, on_sweep_tick,
		    (uint64_t)ncfg->gw.dsn_sweep_interval_ms,
		    (uint64_t)ncfg->gw.dsn_sweep_interval_ms);
	for (size_t i = 0; i < gw->nlinks; i++)
		airlink_caps_changed(gw->links[i]); /* publish if it changed */
	apply_logging(ncfg, gw->opts->foreground);
	config_free(ocfg);
	policy_free(opol);
	route_table_free(ort);
	conneg_table_free(ocaps);
	GW_LOGI("daemon", "event=reload result=applied config=%s",
	    gw->opts->config_path);
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct gw *gw = h->data;

	if (gw->state == GW_S_STOPPING)
		return;
	switch (signum) {
	case SIGHUP:
		gw_reload(gw);
		break;
	case SIGTERM:
		gw_stop(gw, "SIGTERM");
		break;
	case SIGINT:
		gw_stop(gw, "SIGINT");
		break;
	}
}

static int
start_signals(struct gw *gw)
{
	uv_signal_t *hs[] = { &gw->sig_term, &gw->sig_int, &gw->sig_hup };
	int nums[] = { SIGTERM, SIGINT, SIGHUP };

	for (int i = 0; i < 3; i++) {
		uv_signal_init(&gw->loop, hs[i]);
		hs[i]->data = gw;
	}
	for (int i = 0; i < 3; i++) {
		int rc = uv_signal_start(hs[i], on_signal, nums[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
daemon_run(const struct daemon_opts *opts, struct config *cfg)
{
	struct gw *gw = xcalloc(1, sizeof(*gw));
	int rc;

	gw->cfg = cfg;
	gw->opts = opts;
	gw->state = GW_S_STARTING;
	gw->exit_code = 0;
	conv_init();
	apply_logging(cfg, opts->foreground);
	if (cfg->gw.hostname[0])
		snprintf(gw->hostname, sizeof(gw->hostname), "%s",
		    cfg->gw.hostname);
	else if (gethostname(gw->hostname, sizeof(gw->hostname)) != 0)
		snprintf(gw->hostname, sizeof(gw->hostname), "localhost");

	/* A peer that hangs up mid-write must not kill the gateway: writes
	 * report EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	GW_REQUIRE(uv_loop_init(&gw->loop) == 0);
	rc = make_dirs(cfg->gw.data_dir);
	if (rc != 0) {
		GW_LOGE("daemon", "event=start_failed reason=\"cannot create "
		    "data_dir %s: %s\"", cfg->gw.data_dir, gw_strerror(rc));
		gw->exit_code = EX_CANTCREAT;
		goto out;
	}
	if (cfg->gw.pid_file[0] && (rc = write_pid_file(cfg->gw.pid_file))) {
		GW_LOGE("daemon", "event=start_failed reason=\"cannot write "
		    "pid_file %s: %s\"", cfg->gw.pid_file, gw_strerror(rc));
		gw->exit_code = EX_CANTCREAT;
		goto out;
	}
	char err[700];
	rc = build_policy(cfg, &gw->policy, &gw->routes, err, sizeof(err));
	if (rc != 0) {
		GW_LOGE("daemon", "event=start_failed reason=\"%s\"", gw_logq(err));
		gw->exit_code = EX_CONFIG;
		goto out;
	}
	rc = load_caps(cfg, &gw->caps, err, sizeof(err));
	if (rc != 0) {
		GW_LOGE("daemon", "event=start_failed reason=\"caps_file: %s\"",
		    err);
		gw->exit_code = EX_CONFIG;
		goto out;
	}
	char qpath[CONFIG_PATH_MAX + 16];
	struct queue_opts qo;
	config_queue_path(cfg, qpath, sizeof(qpath));
	queue_opts_init(&qo);
	qo.path = qpath;
	qo.dup_retention_s = cfg->gw.dup_retention_ms / 1000;
	rc = queue_open(&gw->loop, &qo, &gw->queue);
	if (rc != 0) {
		GW_LOGE("daemon", "event=start_failed reason=\"cannot open "
		    "queue %s: %s\"", qpath, gw_strerror(rc));
		gw->exit_code = rc == GW_ECORRUPT ? EX_DATAERR : EX_CANTCREAT;
		goto out;
	}
	rc = start_signals(gw);
	if (rc != 0) {
		GW_LOGE("daemon", "event=start_failed reason=\"signals: %s\"",
		    uv_strerror(rc));
		gw->exit_code = EX_OSERR;
		gw_stop(gw, "start_failed");
		uv_run(&gw->loop, UV_RUN_DEFAULT);
		goto out;
	}
	struct intake_env ie = { gw->queue, clk_system(), gw->hostname };
	gw->intake = intake_new(&ie);
	intake_set_routes(gw->intake, gw->routes, gw->policy);
	intake_set_wake(gw->intake, kick_link, kick_dispatch, gw);
	struct dispatch_env de = { &gw->loop, clk_system(), gw->queue,
		gw->hostname, gw->intake, &gw->caps };
	struct dispatch_cfg dc;
	dispatch_cfg_of(cfg, &dc);
	gw->dispatch = dispatch_new(&de, &dc, gw->routes);
	struct planner_env pe = { &gw->loop, clk_system(), gw->queue,
		gw->hostname, &cfg->sched };
	gw->planner = planner_new(&pe);
	planner_set_intake(gw->planner, gw->intake);
	dispatch_set_planner(gw->dispatch, gw->planner);
	drv_registry_init(&gw->drivers);
	drv_registry_add_builtin(&gw->drivers);
	for (size_t i = 0; i < cfg->nlinks; i++) {
		struct airlink_env ae = {
			.loop = &gw->loop,
			.clock = clk_system(),
			.queue = gw->queue,
			.drivers = &gw->drivers,
			.identity = gw->hostname,
			.intake = gw->intake,
			.planner = gw->planner,
			.caps = &gw->caps,
			.data_dir = cfg->gw.data_dir,
			.no_pack = !cfg->links[i].pack,
		};
		rc = airlink_start(&ae, &cfg->links[i],
		    &gw->links[gw->nlinks]);
		if (rc != 0) {
			gw->exit_code = EX_CONFIG;
			gw_stop(gw, "start_failed");
			uv_run(&gw->loop, UV_RUN_DEFAULT);
			goto out;
		}
		gw->nlinks++;
	}
	config_control_path(cfg, gw->ctl_path, sizeof(gw->ctl_path));
	struct monitor_cfg mc;
	alert_cfg(cfg, &mc);
	struct ctlops_env ce = {
		.loop = &gw->loop,
		.clock = clk_system(),
		.queue = gw->queue,
		.intake = gw->intake,
		.planner = gw->planner,
		.links = gw->links,
		.nlinks = &gw->nlinks,
		.hostname = gw->hostname,
		.path = gw->ctl_path,
		.group = cfg->gw.control_group,
		.policy = &gw->policy,
		.alerts = &mc,
		.risk_slack_ms = cfg->gw.risk_slack_ms,
		.metrics_listen = cfg->gw.metrics_listen,
	};
	rc = ctlops_start(&ce, &gw->ctl);
	if (rc != 0) {
		gw->ctl = NULL;
		gw->exit_code = rc == GW_EBUSY ? EX_TEMPFAIL : EX_CANTCREAT;
		gw_stop(gw, "start_failed");
		uv_run(&gw->loop, UV_RUN_DEFAULT);
		goto out;
	}
	/* DSNs a stop or crash left owed (FAILED rows), now and then */
	start_sweep(gw);
	uv_timer_init(&gw->loop, &gw->sweep_timer);
	gw->sweep_timer.data = gw;
	uv_timer_start(&gw->sweep_timer, on_sweep_tick,
	    (uint64_t)cfg->gw.dsn_sweep_interval_ms,
	    (uint64_t)cfg->gw.dsn_sweep_interval_ms);
	gw->sweep_timer_on = true;
	struct smtp_server_opts so;
	smtp_opts_from_config(gw, &so);
	rc = smtp_server_start(&gw->loop, &so, gw->queue, &gw->smtp);
	if (rc != 0) {
		GW_LOGE("daemon", "event=start_failed reason=\"SMTP listener "
		    "%s: %s\"", cfg->gw.listen, gw_strerror(rc));
		gw->smtp = NULL;
		gw->exit_code = EX_UNAVAILABLE;
		gw_stop(gw, "start_failed");
		uv_run(&gw->loop, UV_RUN_DEFAULT);
		goto out;
	}
	if (cfg->b2f.callsign[0]) {
		struct b2f_env be = {
			.loop = &gw->loop,
			.queue = gw->queue,
			.cfg = &cfg->b2f,
			.hostname = gw->hostname,
			.data_dir = cfg->gw.data_dir,
			.policy = gw->policy,
			.submit = submit_routed,
			.submit_arg = gw,
			.kick = kick_dispatch,
			.kick_arg = gw,
			.accept_rcpt = accept_rcpt,
			.accept_arg = gw,
		};
		rc = b2f_start(&be, &gw->b2f);
		if (rc != 0) {
			GW_LOGE("daemon", "event=start_failed reason=\"B2F "
			    "listener %s: %s\"", cfg->b2f.listen,
			    rc == GW_EINVAL ? "bad address" : uv_strerror(rc));
			gw->b2f = NULL;
			gw->exit_code = EX_UNAVAILABLE;
			gw_stop(gw, "start_failed");
			uv_run(&gw->loop, UV_RUN_DEFAULT);
			goto out;
		}
		dispatch_set_b2f(gw->dispatch, b2f_send, gw->b2f);
	}
	gw->state = GW_S_RUNNING;
	GW_LOGI("daemon",
	    "event=started version=%s config=%s hostname=%s data_dir=%s "
	    "listen=%s",
	    SKYWAVE_VERSION, opts->config_path ? opts->config_path : "built-in",
	    gw->hostname, cfg->gw.data_dir, cfg->gw.listen);
	signal_ready(opts, 0);

	uv_run(&gw->loop, UV_RUN_DEFAULT);
	GW_LOGI("daemon", "event=stopped exit=%d", gw->exit_code);
out:
	if (gw->exit_code != 0)
		signal_ready(opts, (unsigned char)gw->exit_code);
	if (gw->queue) { /* failed before the loop ran */
		queue_close(gw->queue, on_queue_closed, gw);
		uv_run(&gw->loop, UV_RUN_DEFAULT);
	}
	planner_free(gw->planner);
	intake_free(gw->intake);
	policy_free(gw->policy);
	route_table_free(gw->routes);
	conneg_table_free(gw->caps);
	conv_shutdown();
	rc = gw->exit_code;
	if (gw->cfg->gw.pid_file[0] && rc == 0)
		unlink(gw->cfg->gw.pid_file);
	GW_REQUIRE(uv_loop_close(&gw->loop) == 0);
	config_free(gw->cfg);
	free(gw);
	return rc;
}

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

#include <errno.h>
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
};

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
gw_stop(struct gw *gw, const char *reason)
{
	if (gw->state == GW_S_STOPPING)
		return;
	gw->state = GW_S_STOPPING;
	GW_LOGI("daemon", "event=stopping reason=%s", reason);
	uv_close((uv_handle_t *)&gw->sig_term, on_handle_closed);
	uv_close((uv_handle_t *)&gw->sig_int, on_handle_closed);
	uv_close((uv_handle_t *)&gw->sig_hup, on_handle_closed);
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
		    gw_errname(rc), err);
		return;
	}
	if (strcmp(ncfg->gw.listen, gw->cfg->gw.listen) != 0 ||
	    strcmp(ncfg->gw.data_dir, gw->cfg->gw.data_dir) != 0 ||
	    strcmp(ncfg->gw.queue_db, gw->cfg->gw.queue_db) != 0)
		GW_LOGW("daemon",
		    "event=reload note=\"listen, data_dir and queue_db take "
		    "effect at the next restart\"");
	apply_logging(ncfg, gw->opts->foreground);
	config_free(gw->cfg);
	gw->cfg = ncfg;
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
	apply_logging(cfg, opts->foreground);
	if (cfg->gw.hostname[0])
		snprintf(gw->hostname, sizeof(gw->hostname), "%s",
		    cfg->gw.hostname);
	else if (gethostname(gw->hostname, sizeof(gw->hostname)) != 0)
		snprintf(gw->hostname, sizeof(gw->hostname), "localhost");

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
	rc = start_signals(gw);
	if (rc != 0) {
		GW_LOGE("daemon", "event=start_failed reason=\"signals: %s\"",
		    uv_strerror(rc));
		gw->exit_code = EX_OSERR;
		gw_stop(gw, "start_failed");
		uv_run(&gw->loop, UV_RUN_DEFAULT);
		goto out;
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
	rc = gw->exit_code;
	if (gw->cfg->gw.pid_file[0] && rc == 0)
		unlink(gw->cfg->gw.pid_file);
	GW_REQUIRE(uv_loop_close(&gw->loop) == 0);
	config_free(gw->cfg);
	free(gw);
	return rc;
}

/*
 * ctl_fake_daemon.c - a control socket with the fake daemon of harness.c,
 * for driving `skywave status/queue/console` from scripts:
 *
 *   ctl_fake_daemon DIR ACTION_LOG
 *
 * listens on DIR/control.sock, appends one line per action to ACTION_LOG,
 * prints "ready PATH" on stdout once listening, and runs until SIGTERM or
 * SIGINT.
 */
#include "tests/control/harness.h"

#include "common/err.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void
post_fn(struct harness *h, void *arg)
{
	(void)arg;
	control_post_event(h->ctl, GW_LOG_WARN, "link",
	    "link=vhf2 event=down reason=no-carrier");
	control_post_event(h->ctl, GW_LOG_INFO, "sched",
	    "msg=" FAKE_RISK_ID " event=at-risk action=redirect");
}

int
main(int argc, char **argv)
{
	struct harness h;
	struct control_opts o;
	sigset_t set;
	FILE *log;
	int rc, sig;

	if (argc != 3) {
		fprintf(stderr, "usage: ctl_fake_daemon DIR ACTION_LOG\n");
		return 64;
	}
	log = fopen(argv[2], "a");
	if (log == NULL) {
		perror(argv[2]);
		return 73;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* the loop thread too */
	memset(&o, 0, sizeof(o));
	o.log_events_level = GW_LOG_WARN;
	rc = harness_start(&h, argv[1], &o);
	if (rc != 0) {
		fprintf(stderr, "ctl_fake_daemon: %s\n", gw_strerror(rc));
		return 69;
	}
	pthread_mutex_lock(&h.lock);
	h.action_log = log;
	pthread_mutex_unlock(&h.lock);
	harness_run(&h, post_fn, NULL);
	printf("ready %s\n", h.path);
	fflush(stdout);
	sigwait(&set, &sig);
	harness_stop(&h);
	fclose(log);
	return 0;
}

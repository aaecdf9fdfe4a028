/*
 * bench_ingest.c - the SMTP front end in front of the real queue, as an
 * ingest server for B4 when skywaved itself does not yet serve SMTP.
 *
 *   bench_ingest DIR PORTFILE [PORT]
 *
 * Opens the queue at DIR/queue.db (WAL, synchronous=FULL: every 250 after
 * the final dot follows a durable commit, group-committed across sessions),
 * starts smtp_server on 127.0.0.1:PORT (0 or absent: a free port, written to
 * PORTFILE), trusts 127.0.0.0/8, and serves until SIGTERM/SIGINT. On exit it
 * prints {"messages": N, "connections": N} to stdout.
 */
#include "common/err.h"
#include "common/log.h"
#include "gateway/mail/policy.h"
#include "gateway/smtp/smtp_server.h"
#include "queue/queue.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

struct ingest {
	struct smtp_server *srv;
	struct queue *q;
	uv_signal_t sigterm, sigint;
	struct smtp_server_stats st;
};

static void
srv_closed(void *arg)
{
	struct ingest *in = arg;

	queue_close(in->q, NULL, NULL);
	uv_close((uv_handle_t *)&in->sigterm, NULL);
	uv_close((uv_handle_t *)&in->sigint, NULL);
}

static void
on_signal(uv_signal_t *h, int sig)
{
	struct ingest *in = h->data;

	(void)sig;
	if (in->srv == NULL)
		return;
	smtp_server_stats(in->srv, &in->st);
	smtp_server_close(in->srv, srv_closed, in);
	in->srv = NULL;
}

int
main(int argc, char **argv)
{
	struct ingest in = { 0 };
	struct policy_config pc;
	struct policy *pol;
	struct smtp_server_opts o;
	struct queue_opts qo;
	char path[1024], err[128];
	uv_loop_t *loop = uv_default_loop();
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: bench_ingest DIR PORTFILE [PORT]\n");
		return 64;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	gw_log_set_level(GW_LOG_WARN);
	policy_config_init(&pc);
	pc.trusted_networks = "127.0.0.0/8, ::1/128";
	if (policy_new(&pc, &pol, err, sizeof(err)) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/queue.db", argv[1]);
	queue_opts_init(&qo);
	qo.path = path;
	if ((rc = queue_open(loop, &qo, &in.q)) != 0) {
		fprintf(stderr, "queue_open: %s\n", gw_strerror(rc));
		return 1;
	}
	smtp_server_opts_init(&o);
	o.hostname = "ingest.test";
	o.listen_port = argc > 3 ? atoi(argv[3]) : 0;
	o.policy = pol;
	o.max_sessions_per_client = 1000;
	if ((rc = smtp_server_start(loop, &o, in.q, &in.srv)) != 0) {
		fprintf(stderr, "smtp_server_start: %s\n", gw_strerror(rc));
		return 1;
	}
	uv_signal_init(loop, &in.sigterm);
	uv_signal_init(loop, &in.sigint);
	in.sigterm.data = in.sigint.data = &in;
	uv_signal_start(&in.sigterm, on_signal, SIGTERM);
	uv_signal_start(&in.sigint, on_signal, SIGINT);

	snprintf(path, sizeof(path), "%s.tmp", argv[2]);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return 1;
	fprintf(f, "%d\n", smtp_server_port(in.srv));
	fclose(f);
	rename(path, argv[2]);

	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	policy_free(pol);
	printf("{\"messages\": %llu, \"connections\": %llu}\n",
	    (unsigned long long)in.st.messages,
	    (unsigned long long)in.st.connections);
	return 0;
}

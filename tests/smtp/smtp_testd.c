/*
 * smtp_testd.c - the real SMTP server (smtp_server.c) in a small process for
 * the Python transcript, client and abuse tests.
 *
 * With --queue PATH the real queue (queue_open on a SQLite file) takes the
 * submissions. Otherwise they go to an in-memory stand-in for queue_submit
 * that writes each
 * message to --spool DIR as <id>.eml (content as the queue would store it)
 * and <id>.env (the envelope, one key=value per line), then completes on a
 * later loop iteration (after --commit-delay-ms), like the queue's owner
 * thread does. --fail-submit makes completions fail with GW_ENOSPC or
 * GW_EIO. SIGTERM runs smtp_server_close() and exits 0 once it is done;
 * SIGHUP reconfigures with --hup-max-size as the new SIZE; SIGUSR1 prints
 * the server's statistics to stderr ("stats connections=.. sessions=..").
 *
 * The bound port is written to --port-file (use --port 0).
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/mail/policy.h"
#include "gateway/smtp/smtp_server.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct pending {
	uv_timer_t t;
	queue_submit_cb cb;
	void *cb_arg;
	int status;
	uint8_t id[QUEUE_ID_LEN];
};

struct testd {
	uv_loop_t *loop;
	struct smtp_server *srv;
	struct smtp_server_opts opts;
	const char *spool;
	int64_t commit_delay_ms;
	int fail_status;
	uint64_t counter;
	int64_t hup_max_size;
	uv_signal_t sigterm, sighup, sigusr1;
	const char *conneg_caps;
	size_t pending;
	struct queue *q;
};

static void
pending_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
pending_fire(uv_timer_t *t)
{
	struct pending *p = t->data;
	struct testd *d = t->loop->data;

	d->pending--;
	p->cb(p->status, p->id, p->cb_arg);
	uv_close((uv_handle_t *)&p->t, pending_closed);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL) {
		perror(path);
		return;
	}
	fwrite(data, 1, len, f);
	fclose(f);
}

static int
submit_double(void *arg, struct queue_envelope *env, struct buf *content,
    queue_submit_cb cb, void *cb_arg)
{
	struct testd *d = arg;
	struct pending *p = xcalloc(1, sizeof(*p));
	char hex[33], path[1024];
	struct buf e = BUF_INIT;

	d->counter++;
	for (int i = 0; i < QUEUE_ID_LEN; i++)
		p->id[i] = (uint8_t)(d->counter >> (8 * (i % 8)));
	p->id[0] ^= 0xa5;
	queue_id_hex(p->id, hex);
	p->cb = cb;
	p->cb_arg = cb_arg;
	p->status = d->fail_status;
	if (p->status == 0 && d->spool != NULL) {
		buf_appendf(&e, "reverse_path=%s\npriority=%d\nband=%d\n"
		    "by_deadline=%lld\nby_mode=%c\nby_trace=%d\n"
		    "aby_deadline=%lld\nenvid=%s\nret=%d\nbody=%d\n"
		    "size_declared=%lld\narrival=%lld\nclient=%s\nconperm=%d\n",
		    env->reverse_path, env->priority, env->band,
		    (long long)env->by_deadline,
		    env->by_mode ? env->by_mode : '-', env->by_trace,
		    (long long)env->aby_deadline,
		    env->envid ? env->envid : "", (int)env->ret,
		    (int)env->body, (long long)env->size_declared,
		    (long long)env->arrival, env->client, env->conperm);
		for (size_t i = 0; i < env->nrcpts; i++) {
			const struct queue_rcpt *r = &env->rcpts[i];
			buf_appendf(&e, "rcpt=%s notify=%u orcpt=%s arcpt=%s "
			    "flags=%u\n", r->addr, r->notify,
			    r->orcpt ? r->orcpt : "", r->arcpt ? r->arcpt : "",
			    r->flags);
		}
		snprintf(path, sizeof(path), "%s/%s.env", d->spool, hex);
		write_file(path, e.data, e.len);
		snprintf(path, sizeof(path), "%s/%s.eml", d->spool, hex);
		write_file(path, content->data, content->len);
	}
	buf_fini(&e);
	buf_reset(content);
	queue_envelope_free(env);
	uv_timer_init(d->loop, &p->t);
	p->t.data = p;
	d->pending++;
	uv_timer_start(&p->t, pending_fire, (uint64_t)d->commit_delay_ms, 0);
	return 0;
}

static void
closed_cb(void *arg)
{
	struct testd *d = arg;

	d->srv = NULL;
	if (d->q != NULL)
		queue_close(d->q, NULL, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->sigusr1, NULL);
}

static void
on_signal(uv_signal_t *h, int sig)
{
	struct testd *d = h->data;

	if (sig == SIGUSR1) {
		struct smtp_server_stats st;
		if (d->srv == NULL)
			return;
		smtp_server_stats(d->srv, &st);
		fprintf(stderr, "stats connections=%llu refused=%llu "
		    "messages=%llu sessions=%zu\n",
		    (unsigned long long)st.connections,
		    (unsigned long long)st.refused,
		    (unsigned long long)st.messages, st.sessions);
		return;
	}
	if (sig == SIGHUP) {
		struct smtp_server_opts o = d->opts;
		if (d->hup_max_size > 0)
			o.max_message_size = d->hup_max_size;
		smtp_server_reconfigure(d->srv, &o);
		return;
	}
	if (d->srv != NULL)
		smtp_server_close(d->srv, closed_cb, d);
}

static const char *
conneg_lookup(void *arg, const char *addr)
{
	struct testd *d = arg;

	(void)addr;
	return d->conneg_caps;
}

static void
usage(void)
{
	fprintf(stderr, "usage: smtp_testd --port-file F [--port N] "
	    "[--spool DIR] [options]\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "port", 1, NULL, 'p' },
		{ "port-file", 1, NULL, 'f' },
		{ "spool", 1, NULL, 's' },
		{ "hostname", 1, NULL, 'H' },
		{ "trusted", 1, NULL, 't' },
		{ "priority-limits", 1, NULL, 'l' },
		{ "untrusted-max", 1, NULL, 'u' },
		{ "min-priority", 1, NULL, 'm' },
		{ "size-limits", 1, NULL, 'z' },
		{ "policy", 1, NULL, 'P' },
		{ "max-size", 1, NULL, 'S' },
		{ "max-rcpts", 1, NULL, 'r' },
		{ "max-sessions", 1, NULL, 'M' },
		{ "per-client", 1, NULL, 'c' },
		{ "max-errors", 1, NULL, 'e' },
		{ "command-timeout-ms", 1, NULL, 'T' },
		{ "data-timeout-ms", 1, NULL, 'D' },
		{ "deliverby-min", 1, NULL, 'b' },
		{ "no-extras", 0, NULL, 'x' },
		{ "accept-domains", 1, NULL, 'a' },
		{ "conneg-caps", 1, NULL, 'C' },
		{ "commit-delay-ms", 1, NULL, 'd' },
		{ "fail-submit", 1, NULL, 'F' },
		{ "hup-max-size", 1, NULL, 'h' },
		{ "queue", 1, NULL, 'Q' },
		{ "listen", 1, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	struct testd d;
	struct policy_config pc;
	struct policy *pol;
	const char *port_file = NULL;
	const char *queue_path = NULL;
	char *domains[16] = { NULL };
	size_t ndomains = 0;
	char err[256];
	int c;

	memset(&d, 0, sizeof(d));
	policy_config_init(&pc);
	pc.trusted_networks = "127.0.0.0/8, ::1/128";
	smtp_server_opts_init(&d.opts);
	d.opts.hostname = "gw.example";
	d.opts.listen_port = 0;
	d.opts.max_message_size = 1048576;
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'p': d.opts.listen_port = atoi(optarg); break;
		case 'f': port_file = optarg; break;
		case 's': d.spool = optarg; break;
		case 'H': d.opts.hostname = optarg; break;
		case 't': pc.trusted_networks = optarg; break;
		case 'l': pc.priority_limits = optarg; break;
		case 'u': pc.untrusted_max_priority = atoi(optarg); break;
		case 'm': pc.min_priority = atoi(optarg); break;
		case 'z': pc.size_limits = optarg; break;
		case 'P': pc.priority_policy = optarg; break;
		case 'S': d.opts.max_message_size = atoll(optarg); break;
		case 'r': d.opts.max_recipients = (size_t)atol(optarg); break;
		case 'M': d.opts.max_sessions = (size_t)atol(optarg); break;
		case 'c': d.opts.max_sessions_per_client = (size_t)atol(optarg);
			break;
		case 'e': d.opts.max_errors = atoi(optarg); break;
		case 'T': d.opts.command_timeout_ms = atoll(optarg); break;
		case 'D': d.opts.data_timeout_ms = atoll(optarg); break;
		case 'b': d.opts.deliverby_min_s = atoll(optarg); break;
		case 'x':
			d.opts.altrecip = d.opts.conneg = d.opts.conperm = false;
			break;
		case 'a':
			if (ndomains + 1 < GW_ARRAY_LEN(domains))
				domains[ndomains++] = optarg;
			break;
		case 'C': d.conneg_caps = optarg; break;
		case 'd': d.commit_delay_ms = atoll(optarg); break;
		case 'F':
			d.fail_status = strcmp(optarg, "ENOSPC") == 0 ?
			    GW_ENOSPC : GW_EIO;
			break;
		case 'h': d.hup_max_size = atoll(optarg); break;
		case 'Q': queue_path = optarg; break;
		case 'L': d.opts.listen_host = optarg; break;
		default: usage();
		}
	}
	if (port_file == NULL)
		usage();
	/* Many connections: raise the descriptor limit as far as allowed. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (policy_new(&pc, &pol, err, sizeof(err)) != 0) {
		fprintf(stderr, "policy: %s\n", err);
		return 64;
	}
	d.opts.policy = pol;
	d.opts.accept_domains = ndomains ? (const char *const *)domains : NULL;
	d.loop = uv_default_loop();
	d.loop->data = &d;
	if (queue_path != NULL) {
		struct queue_opts qo;
		queue_opts_init(&qo);
		qo.path = queue_path;
		int rc = queue_open(d.loop, &qo, &d.q);
		if (rc != 0) {
			fprintf(stderr, "queue_open: %s\n", gw_strerror(rc));
			return 1;
		}
	} else {
		d.opts.submit = submit_double;
		d.opts.submit_arg = &d;
	}
	if (d.conneg_caps != NULL) {
		d.opts.conneg_lookup = conneg_lookup;
		d.opts.conneg_arg = &d;
	}
	if (smtp_server_start(d.loop, &d.opts, d.q, &d.srv) != 0) {
		fprintf(stderr, "smtp_server_start failed\n");
		return 1;
	}
	uv_signal_init(d.loop, &d.sigterm);
	uv_signal_init(d.loop, &d.sighup);
	uv_signal_init(d.loop, &d.sigusr1);
	d.sigterm.data = d.sighup.data = d.sigusr1.data = &d;
	uv_signal_start(&d.sigusr1, on_signal, SIGUSR1);
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	uv_signal_start(&d.sighup, on_signal, SIGHUP);
	signal(SIGPIPE, SIG_IGN);

	char tmp[1024];
	snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return 1;
	fprintf(f, "%d\n", smtp_server_port(d.srv));
	fclose(f);
	rename(tmp, port_file);

	uv_run(d.loop, UV_RUN_DEFAULT);
	int rc = uv_loop_close(d.loop);
	policy_free(pol);
	if (rc != 0) {
		fprintf(stderr, "loop not empty at exit\n");
		return 1;
	}
	return 0;
}

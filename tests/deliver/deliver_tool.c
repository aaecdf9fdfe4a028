/*
 * deliver_tool - run the delivery glue once from the command line, for the
 * real-peer test scripts (Postfix, sendmail) and for operators' debugging.
 *
 *   deliver_tool --route 'PATTERN=TARGET' ... --from ADDR
 *                --rcpt ADDR[,NOTIFY=...][,ORCPT=...] ... --file MESSAGE
 *                [--priority N] [--by SECONDS;R|N[T]] [--envid X]
 *                [--ret FULL|HDRS] [--8bit] [--helo NAME]
 *                [--max-received N] [--timeout-ms N]
 *
 * The message file is read as is; LF line ends are turned into CRLF. One
 * line per recipient is printed:
 *   rcpt=<b@y> action=relayed code=250 status=2.0.0 dsn_relayed=0 text="..."
 * Exit status: 0 when every outcome was reported, 2 on usage errors.
 */
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/deliver/deliver.h"
#include "gateway/deliver/smtpc.h"
#include "gateway/mail/route.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct state {
	struct queue_envelope *env;
	int outcomes;
	bool done;
};

static void
on_outcome(void *arg, const struct deliver_outcome *o)
{
	struct state *st = arg;
	printf("rcpt=<%s> action=%s code=%d status=%s dsn_relayed=%d "
	    "remote=\"%s\" text=\"%s\"\n", st->env->rcpts[o->rcpt].addr,
	    deliver_action_name(o->action), o->code, o->status,
	    o->dsn_relayed ? 1 : 0, o->remote_mta, o->text);
	st->outcomes++;
}

static void
on_done(void *arg)
{
	((struct state *)arg)->done = true;
}

static unsigned
parse_notify(const char *v)
{
	unsigned bits = 0;
	char *copy = xstrdup(v), *save = NULL;
	for (char *t = strtok_r(copy, "+", &save); t;
	    t = strtok_r(NULL, "+", &save)) {
		if (strcasecmp(t, "NEVER") == 0)
			bits |= QUEUE_NOTIFY_NEVER;
		else if (strcasecmp(t, "SUCCESS") == 0)
			bits |= QUEUE_NOTIFY_SUCCESS;
		else if (strcasecmp(t, "FAILURE") == 0)
			bits |= QUEUE_NOTIFY_FAILURE;
		else if (strcasecmp(t, "DELAY") == 0)
			bits |= QUEUE_NOTIFY_DELAY;
	}
	free(copy);
	return bits;
}

static void
usage(void)
{
	fprintf(stderr, "usage: deliver_tool --route PATTERN=TARGET ... "
	    "--from ADDR --rcpt ADDR[,NOTIFY=A+B][,ORCPT=X] ... --file MSG "
	    "[--priority N] [--by S;M] [--envid X] [--ret FULL|HDRS] "
	    "[--8bit] [--helo NAME] [--max-received N] [--timeout-ms N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "route", required_argument, NULL, 'r' },
		{ "from", required_argument, NULL, 'f' },
		{ "rcpt", required_argument, NULL, 't' },
		{ "file", required_argument, NULL, 'F' },
		{ "priority", required_argument, NULL, 'p' },
		{ "by", required_argument, NULL, 'b' },
		{ "envid", required_argument, NULL, 'e' },
		{ "ret", required_argument, NULL, 'R' },
		{ "8bit", no_argument, NULL, '8' },
		{ "helo", required_argument, NULL, 'h' },
		{ "max-received", required_argument, NULL, 'm' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct route_line routes[32];
	size_t nroutes = 0;
	struct queue_envelope env;
	struct queue_rcpt rcpts[64];
	const char *file = NULL, *helo = "deliver-tool.test";
	int64_t max_received = 100, timeout_ms = 0;
	int c;

	memset(&env, 0, sizeof(env));
	memset(rcpts, 0, sizeof(rcpts));
	env.rcpts = rcpts;
	env.reverse_path = xstrdup("");
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': {
			const char *eq = strchr(optarg, '=');
			if (eq == NULL || nroutes == GW_ARRAY_LEN(routes))
				usage();
			struct route_line *r = &routes[nroutes];
			snprintf(r->pattern, sizeof(r->pattern), "%.*s",
			    (int)(eq - optarg), optarg);
			snprintf(r->target, sizeof(r->target), "%s", eq + 1);
			r->line = (int)++nroutes;
			break;
		}
		case 'f':
			free(env.reverse_path);
			env.reverse_path = xstrdup(optarg);
			break;
		case 't': {
			if (env.nrcpts == GW_ARRAY_LEN(rcpts))
				usage();
			struct queue_rcpt *q = &rcpts[env.nrcpts++];
			char *copy = xstrdup(optarg), *save = NULL;
			char *tok = strtok_r(copy, ",", &save);
			q->addr = xstrdup(tok ? tok : "");
			while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
				if (strncasecmp(tok, "NOTIFY=", 7) == 0)
					q->notify = parse_notify(tok + 7);
				else if (strncasecmp(tok, "ORCPT=", 6) == 0)
					q->orcpt = xstrdup(tok + 6);
			}
			free(copy);
			break;
		}
		case 'F':
			file = optarg;
			break;
		case 'p':
			env.priority = atoi(optarg);
			break;
		case 'b': {
			char *semi = strchr(optarg, ';');
			if (semi == NULL)
				usage();
			env.by_deadline = clk_wall_s(clk_system()) +
			    strtoll(optarg, NULL, 10);
			env.by_mode = (char)(semi[1] == 'r' ? 'R' :
			    semi[1] == 'n' ? 'N' : semi[1]);
			env.by_trace = strchr(semi, 'T') != NULL;
			break;
		}
		case 'e':
			env.envid = xstrdup(optarg);
			break;
		case 'R':
			env.ret = strcasecmp(optarg, "FULL") == 0 ?
			    QUEUE_RET_FULL : QUEUE_RET_HDRS;
			break;
		case '8':
			env.body = QUEUE_BODY_8BITMIME;
			break;
		case 'h':
			helo = optarg;
			break;
		case 'm':
			max_received = strtoll(optarg, NULL, 10);
			break;
		case 'T':
			timeout_ms = strtoll(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (file == NULL || env.nrcpts == 0)
		usage();

	struct buf content = BUF_INIT;
	FILE *fp = fopen(file, "rb");
	if (fp == NULL) {
		perror(file);
		return 2;
	}
	int ch, prev = 0;
	while ((ch = fgetc(fp)) != EOF) {
		if (ch == '\n' && prev != '\r')
			buf_append_byte(&content, '\r');
		buf_append_byte(&content, (uint8_t)ch);
		prev = ch;
	}
	fclose(fp);

	struct route_table *rt = NULL;
	char err[400];
	if (route_table_new(routes, nroutes, &rt, err, sizeof(err)) != 0) {
		fprintf(stderr, "routes: %s\n", err);
		return 2;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct smtpc_opts so;
	smtpc_opts_default(&so, helo);
	if (timeout_ms > 0) {
		so.to.connect_ms = so.to.greeting_ms = so.to.ehlo_ms =
		    so.to.mail_ms = so.to.rcpt_ms = so.to.data_ms =
		    so.to.block_ms = so.to.dot_ms = so.to.quit_ms = timeout_ms;
	}
	struct smtpc_client *sc = smtpc_client_new(&loop, clk_system(), &so);
	struct deliver_opts dopt = { helo, max_received, true };
	struct deliver *d = deliver_new(&loop, clk_system(), rt, sc, &dopt);
	struct state st = { &env, 0, false };
	struct deliver_req req = { &env, content.data, content.len, NULL, 0 };
	if (deliver_start(d, &req, on_outcome, on_done, &st) != 0) {
		fprintf(stderr, "deliver_start failed\n");
		return 2;
	}
	while (!st.done)
		uv_run(&loop, UV_RUN_ONCE);
	deliver_free(d);
	smtpc_client_close(sc, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	route_table_free(rt);
	buf_fini(&content);
	for (size_t i = 0; i < env.nrcpts; i++) {
		free(rcpts[i].addr);
		free(rcpts[i].orcpt);
	}
	free(env.reverse_path);
	free(env.envid);
	fflush(stdout);
	return st.outcomes == (int)env.nrcpts ? 0 : 1;
}

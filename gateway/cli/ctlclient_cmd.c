/*
 * ctlclient_cmd.c - `skywave status`, `skywave queue` and the operator
 * actions, as thin commands over ctlclient (see ctlclient_cmd.h).
 *
 * Owner: the `skywave` process, one command per run. Output for people goes
 * to stdout, errors to stderr; --json prints the daemon's reply member as
 * is (pretty-printed), so scripts see exactly what the daemon sent.
 */
#include "gateway/cli/ctlclient_cmd.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/cli/ctlclient.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#define CMD_POS_MAX 4

struct cmd_args {
	const char *socket;
	const char *link;
	const char *band;
	long limit;
	bool json;
	bool help;
	const char *pos[CMD_POS_MAX];
	int npos;
};

/* Parse argv[1..]; returns 0 or EX_USAGE (message printed). */
static int
parse_args(int argc, char **argv, struct cmd_args *a, bool allow_link,
    bool allow_band)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char **slot = NULL;
		if (strcmp(s, "--json") == 0) {
			a->json = true;
			continue;
		}
		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			a->help = true;
			continue;
		}
		if (strcmp(s, "--socket") == 0)
			slot = &a->socket;
		else if (allow_link && strcmp(s, "--link") == 0)
			slot = &a->link;
		else if (allow_band && strcmp(s, "--band") == 0)
			slot = &a->band;
		else if (allow_band && strcmp(s, "--limit") == 0) {
			char *end;
			if (i + 1 >= argc)
				goto missing;
			a->limit = strtol(argv[++i], &end, 10);
			if (*end || a->limit < 1 || a->limit > 10000) {
				fprintf(stderr, "skywave: --limit must be "
				    "1..10000\n");
				return EX_USAGE;
			}
			continue;
		}
		if (slot != NULL) {
			if (i + 1 >= argc)
				goto missing;
			*slot = argv[++i];
			continue;
		}
		if (s[0] == '-' && s[1] != '\0') {
			fprintf(stderr, "skywave %s: unknown option %s\n",
			    argv[0], s);
			return EX_USAGE;
		}
		if (a->npos >= CMD_POS_MAX) {
			fprintf(stderr, "skywave %s: too many arguments\n",
			    argv[0]);
			return EX_USAGE;
		}
		a->pos[a->npos++] = s;
	}
	return 0;
missing:
	fprintf(stderr, "skywave %s: %s needs a value\n", argv[0],
	    argv[argc - 1]);
	return EX_USAGE;
}

static int
exit_for(int err)
{
	switch (err) {
	case -EACCES:
	case -EPERM: return EX_NOPERM;
	case -ENOENT:
	case -ECONNREFUSED:
	case GW_ECLOSED:
	case GW_ETIMEDOUT: return EX_UNAVAILABLE;
	case GW_EPROTO:
	case GW_ETOOBIG: return EX_PROTOCOL;
	default: return EX_UNAVAILABLE;
	}
}

/* Connect or explain why not; returns 0 or an exit code. */
static int
open_client(const struct cmd_args *a, struct ctlclient **c)
{
	const char *path = ctlclient_socket_path(a->socket);
	char why[600];
	int rc = ctlclient_connect(path, c);

	if (rc == 0)
		return 0;
	ctlclient_explain(rc, path, why, sizeof(why));
	fprintf(stderr, "skywave: %s\n", why);
	return exit_for(rc);
}

static void
print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL) {
		printf("%s\n", s);
		free(s);
	}
}

/* A transport failure after connecting. */
static int
transport_error(int rc)
{
	fprintf(stderr, "skywave: control socket: %s\n", gw_strerror(rc));
	return exit_for(rc);
}

int
status_main(int argc, char **argv)
{
	struct cmd_args a;
	struct ctlclient *c;
	json_t *req, *rep = NULL;
	int rc;

	rc = parse_args(argc, argv, &a, false, false);
	if (rc != 0)
		return rc;
	if (a.help || a.npos > 0) {
		fprintf(a.help ? stdout : stderr,
		    "usage: skywave status [--json] [--socket PATH]\n");
		return a.help ? 0 : EX_USAGE;
	}
	rc = open_client(&a, &c);
	if (rc != 0)
		return rc;
	req = json_pack("{s:s}", "op", "status");
	rc = ctlclient_call(c, req, &rep);
	json_decref(req);
	ctlclient_close(c);
	if (rc != 0)
		return transport_error(rc);
	if (!json_is_true(json_object_get(rep, "ok"))) {
		const char *e = json_string_value(json_object_get(rep,
		    "error"));
		fprintf(stderr, "skywave: status refused: %s\n", e ? e : "?");
		json_decref(rep);
		return 1;
	}
	if (a.json) {
		print_json(json_object_get(rep, "status"));
	} else {
		struct status *st = xmalloc(sizeof(*st));
		struct buf out = BUF_INIT;
		char err[200];
		rc = status_from_json(json_object_get(rep, "status"), st, err,
		    sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "skywave: bad status reply: %s\n",
			    err);
			free(st);
			json_decref(rep);
			return EX_PROTOCOL;
		}
		status_format_text(st, &out);
		fputs(buf_cstr(&out), stdout);
		buf_fini(&out);
		free(st);
	}
	json_decref(rep);
	return 0;
}

static void
print_msg_line(const struct status_msg *m)
{
	char b[32], age[32];

	printf("%-32s %-8s %+3d %-10s %10s %8s %s -> %s\n", m->id,
	    status_msg_state_name(m->state), m->priority,
	    m->band[0] ? m->band : "-",
	    status_fmt_bytes(m->bytes, b, sizeof(b)),
	    status_fmt_ms(m->age_ms, age, sizeof(age)), m->sender, m->rcpts);
}

static void
print_msg_full(const struct status_msg *m)
{
	char b[32];

	printf("id:          %s\n", m->id);
	printf("state:       %s\n", status_msg_state_name(m->state));
	printf("from:        %s\n", m->sender);
	printf("to:          %s (%" PRId64 " recipient%s)\n", m->rcpts,
	    m->nrcpts, m->nrcpts == 1 ? "" : "s");
	printf("priority:    %d (%s)\n", m->priority, m->band[0] ? m->band :
	    "-");
	printf("route:       %s\n", m->route[0] ? m->route : "-");
	printf("size:        %s\n", status_fmt_bytes(m->bytes, b, sizeof(b)));
	printf("age:         %s\n", status_fmt_ms(m->age_ms, b, sizeof(b)));
	if (m->deadline_s > 0)
		printf("deadline:    %" PRId64 " (Unix time)\n", m->deadline_s);
	printf("attempts:    %" PRId64 "\n", m->attempts);
	if (m->next_try_ms >= 0)
		printf("next try in: %s\n", status_fmt_ms(m->next_try_ms, b,
		    sizeof(b)));
	if (m->last_error[0])
		printf("last error:  %s\n", m->last_error);
}

int
queue_cmd_main(int argc, char **argv)
{
	struct cmd_args a;
	struct ctlclient *c;
	json_t *req, *rep = NULL;
	const char *sub;
	int rc;

	rc = parse_args(argc, argv, &a, false, true);
	if (rc != 0)
		return rc;
	sub = a.npos > 0 ? a.pos[0] : "list";
	if (a.help || (strcmp(sub, "list") == 0 && a.npos > 1) ||
	    (strcmp(sub, "show") == 0 && a.npos != 2) ||
	    (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0)) {
		fprintf(a.help ? stdout : stderr, "usage: skywave queue [list] "
		    "[--band N] [--limit N] [--json] [--socket PATH]\n"
		    "       skywave queue show ID [--json] [--socket PATH]\n");
		return a.help ? 0 : EX_USAGE;
	}
	rc = open_client(&a, &c);
	if (rc != 0)
		return rc;
	if (strcmp(sub, "show") == 0) {
		req = json_pack("{s:s,s:s}", "op", "show", "id", a.pos[1]);
	} else {
		req = json_pack("{s:s}", "op", "queue");
		if (a.band)
			json_object_set_new(req, "band", json_string(a.band));
		if (a.limit)
			json_object_set_new(req, "limit",
			    json_integer(a.limit));
	}
	rc = ctlclient_call(c, req, &rep);
	json_decref(req);
	ctlclient_close(c);
	if (rc != 0)
		return transport_error(rc);
	if (!json_is_true(json_object_get(rep, "ok"))) {
		const char *e = json_string_value(json_object_get(rep,
		    "error"));
		fprintf(stderr, "skywave queue: %s\n", e ? e : "refused");
		json_decref(rep);
		return 1;
	}
	if (strcmp(sub, "show") == 0) {
		struct status_msg m;
		const json_t *mj = json_object_get(rep, "message");
		if (a.json)
			print_json(mj);
		else if (status_msg_from_json(mj, &m, NULL, 0) == 0)
			print_msg_full(&m);
		else
			rc = EX_PROTOCOL;
	} else {
		const json_t *arr = json_object_get(rep, "messages");
		if (a.json) {
			print_json(arr);
		} else {
			printf("%-32s %-8s %3s %-10s %10s %8s %s\n", "ID",
			    "STATE", "PRI", "BAND", "SIZE", "AGE",
			    "FROM -> TO");
			for (size_t i = 0; i < json_array_size(arr); i++) {
				struct status_msg m;
				if (status_msg_from_json(json_array_get(arr, i),
				    &m, NULL, 0) != 0) {
					rc = EX_PROTOCOL;
					break;
				}
				print_msg_line(&m);
			}
		}
	}
	if (rc == EX_PROTOCOL)
		fprintf(stderr, "skywave queue: reply not understood\n");
	json_decref(rep);
	return rc;
}

static int
action_usage(FILE *fp, int code)
{
	fprintf(fp, "usage: skywave hold ID | hold --link NAME\n"
	    "       skywave release ID | release --link NAME\n"
	    "       skywave cancel ID       (the sender gets a DSN)\n"
	    "       skywave flush [ID | --link NAME]\n"
	    "       skywave requeue ID ROUTE   (ROUTE: link:NAME, "
	    "smtp:HOST:PORT, ...)\n"
	    "       skywave link down|up NAME\n"
	    "       skywave ack ALERT   (an alert id from skywave status)\n"
	    "       skywave trace ID    (the message's life on this gateway)\n"
	    "  ID: the whole id or a unique prefix of 4 or more hex digits\n"
	    "  options: --json --socket PATH\n");
	return code;
}

int
action_main(int argc, char **argv)
{
	struct cmd_args a;
	struct ctlclient *c;
	const char *cmd = argc > 0 ? argv[0] : "";
	const char *op = NULL, *id = NULL, *link = NULL, *route = NULL;
	char text[400];
	json_t *rep = NULL;
	int rc;

	rc = parse_args(argc, argv, &a, true, false);
	if (rc != 0)
		return rc;
	if (a.help)
		return action_usage(stdout, 0);
	if (strcmp(cmd, "hold") == 0 || strcmp(cmd, "release") == 0) {
		op = cmd;
		if ((a.npos == 1) == (a.link != NULL) || a.npos > 1)
			return action_usage(stderr, EX_USAGE);
		id = a.npos ? a.pos[0] : NULL;
		link = a.link;
	} else if (strcmp(cmd, "cancel") == 0) {
		op = cmd;
		if (a.npos != 1 || a.link)
			return action_usage(stderr, EX_USAGE);
		id = a.pos[0];
	} else if (strcmp(cmd, "flush") == 0) {
		op = cmd;
		if (a.npos > 1 || (a.npos == 1 && a.link))
			return action_usage(stderr, EX_USAGE);
		id = a.npos ? a.pos[0] : NULL;
		link = a.link;
	} else if (strcmp(cmd, "requeue") == 0) {
		op = cmd;
		if (a.npos != 2 || a.link)
			return action_usage(stderr, EX_USAGE);
		id = a.pos[0];
		route = a.pos[1];
	} else if (strcmp(cmd, "trace") == 0) {
		op = cmd;
		if (a.npos != 1 || a.link)
			return action_usage(stderr, EX_USAGE);
		id = a.pos[0];
	} else if (strcmp(cmd, "ack") == 0) {
		op = cmd;
		if (a.npos != 1 || a.link)
			return action_usage(stderr, EX_USAGE);
		id = a.pos[0];
	} else if (strcmp(cmd, "link") == 0) {
		if (a.npos != 2 || a.link)
			return action_usage(stderr, EX_USAGE);
		if (strcmp(a.pos[0], "down") == 0)
			op = "link_down";
		else if (strcmp(a.pos[0], "up") == 0)
			op = "link_up";
		else
			return action_usage(stderr, EX_USAGE);
		link = a.pos[1];
	} else {
		return action_usage(stderr, EX_USAGE);
	}
	rc = open_client(&a, &c);
	if (rc != 0)
		return rc;
	rc = ctlclient_action(c, op, id, link, route, text, sizeof(text),
	    &rep);
	ctlclient_close(c);
	if (rep == NULL)
		return transport_error(rc);
	if (a.json) {
		print_json(rep);
	} else if (rc == 0) {
		/* the whole text (a trace is longer than the buffer) */
		const char *t = json_string_value(json_object_get(rep, "text"));
		if (t == NULL)
			t = text;
		printf("%s%s", t, t[0] && t[strlen(t) - 1] == '\n' ? "" : "\n");
	} else {
		fprintf(stderr, "skywave %s: %s\n", cmd, text);
	}
	json_decref(rep);
	return rc == 0 ? 0 : 1;
}

/* --since: "90m", "2h", "1d", "300s" ago, or Unix seconds. */
static int
parse_since(const char *s, int64_t now_s, int64_t *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	int64_t mul = 0;

	if (end == s || v < 0)
		return -1;
	if (*end == '\0')
		mul = v >= 1000000000LL ? 0 : 1;
	else if (strcmp(end, "s") == 0)
		mul = 1;
	else if (strcmp(end, "m") == 0)
		mul = 60;
	else if (strcmp(end, "h") == 0)
		mul = 3600;
	else if (strcmp(end, "d") == 0)
		mul = 86400;
	else
		return -1;
	*out = mul == 0 ? (int64_t)v : now_s - (int64_t)v * mul;
	return 0;
}

int
text_main(int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : "";
	struct cmd_args a;
	struct ctlclient *c;
	json_t *req, *rep = NULL;
	const char *since = NULL;
	int rc;
	int n = 0;
	char *args[16];

	/* --since is ours; the rest goes to the common parser */
	for (int i = 0; i < argc && n < 16; i++) {
		if (strcmp(cmd, "report") == 0 && strcmp(argv[i], "--since") ==
		    0 && i + 1 < argc) {
			since = argv[++i];
			continue;
		}
		args[n++] = argv[i];
	}
	rc = parse_args(n, args, &a, false, false);
	if (rc != 0)
		return rc;
	if (a.help || a.npos != 0) {
		fprintf(a.help ? stdout : stderr, "usage: skywave %s%s "
		    "[--json] [--socket PATH]\n", cmd,
		    strcmp(cmd, "report") == 0 ? " [--since 8h|UNIXTIME]" : "");
		return a.help ? 0 : EX_USAGE;
	}
	req = json_pack("{s:s}", "op", cmd);
	if (since != NULL) {
		int64_t t;
		if (parse_since(since, (int64_t)time(NULL), &t) != 0) {
			fprintf(stderr, "skywave report: --since wants a "
			    "duration (90m, 8h, 1d) or Unix seconds\n");
			json_decref(req);
			return EX_USAGE;
		}
		json_object_set_new(req, "since", json_integer(t < 0 ? 0 : t));
	}
	rc = open_client(&a, &c);
	if (rc != 0) {
		json_decref(req);
		return rc;
	}
	rc = ctlclient_call(c, req, &rep);
	json_decref(req);
	ctlclient_close(c);
	if (rc != 0)
		return transport_error(rc);
	if (a.json) {
		print_json(rep);
	} else if (json_is_true(json_object_get(rep, "ok"))) {
		const char *t = json_string_value(json_object_get(rep, "text"));
		fputs(t ? t : "", stdout);
	} else {
		const char *e = json_string_value(json_object_get(rep,
		    "error"));
		fprintf(stderr, "skywave %s: %s\n", cmd, e ? e : "refused");
		rc = 1;
	}
	json_decref(rep);
	return rc;
}

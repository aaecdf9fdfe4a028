/*
 * ctlclient.c - blocking client for the control socket (see ctlclient.h).
 *
 * Owner: the calling thread of the `skywave` tool. One connection owns its
 * fd and an input buffer; lines are split out of the buffer so that
 * several replies arriving in one read are not lost.
 */
#include "gateway/cli/ctlclient.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct ctlclient {
	int fd;
	struct buf in;
};

const char *
ctlclient_socket_path(const char *explicit_path)
{
	const char *env;

	if (explicit_path && explicit_path[0])
		return explicit_path;
	env = getenv("SKYWAVE_SOCKET");
	if (env && env[0])
		return env;
	return CTLCLIENT_DEFAULT_SOCKET;
}

int
ctlclient_connect(const char *path, struct ctlclient **out)
{
	struct sockaddr_un sa;
	struct ctlclient *c;
	int fd;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return GW_ETOOBIG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	buf_init(&c->in);
	*out = c;
	return 0;
}

void
ctlclient_close(struct ctlclient *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	buf_fini(&c->in);
	free(c);
}

int
ctlclient_fd(const struct ctlclient *c)
{
	return c->fd;
}

int
ctlclient_has_line(const struct ctlclient *c)
{
	return c->in.len > 0 && memchr(c->in.data, '\n', c->in.len) != NULL;
}

int
ctlclient_send(struct ctlclient *c, const json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);
	size_t n, off = 0;

	if (s == NULL)
		return GW_EINVAL;
	n = strlen(s);
	{
		/* json_dumps leaves no room for the newline: copy */
		char *line = xmalloc(n + 1);
		memcpy(line, s, n);
		line[n] = '\n';
		free(s);
		s = line;
	}
	n++;
	while (off < n) {
		ssize_t w = send(c->fd, s + off, n - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int e = errno == EPIPE ? GW_ECLOSED : -errno;
			free(s);
			return e;
		}
		off += (size_t)w;
	}
	free(s);
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
ctlclient_read(struct ctlclient *c, int timeout_ms, json_t **obj)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	json_error_t jerr;

	*obj = NULL;
	for (;;) {
		char *nl = c->in.len ? memchr(c->in.data, '\n', c->in.len) :
		    NULL;
		if (nl != NULL) {
			size_t n = (size_t)(nl - (char *)c->in.data);
			json_t *j = json_loadb((const char *)c->in.data, n, 0,
			    &jerr);
			buf_consume(&c->in, n + 1);
			if (j == NULL || !json_is_object(j)) {
				json_decref(j);
				return GW_EPROTO;
			}
			*obj = j;
			return 0;
		}
		if (c->in.len > CTLCLIENT_LINE_MAX)
			return GW_ETOOBIG;
		int wait = -1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			wait = left > 0 ? (int)left : 0;
		}
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int rc = poll(&p, 1, wait);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (rc == 0)
			return GW_ETIMEDOUT;
		buf_reserve(&c->in, 65536);
		ssize_t r = recv(c->fd, c->in.data + c->in.len,
		    c->in.cap - c->in.len, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == ECONNRESET ? GW_ECLOSED : -errno;
		}
		if (r == 0)
			return GW_ECLOSED;
		c->in.len += (size_t)r;
		c->in.data[c->in.len] = '\0';
	}
}

int
ctlclient_call(struct ctlclient *c, const json_t *req, json_t **reply)
{
	int rc = ctlclient_send(c, req);

	*reply = NULL;
	if (rc != 0)
		return rc;
	return ctlclient_read(c, CTLCLIENT_TIMEOUT_MS, reply);
}

static void
set_text(char *out, size_t len, const char *s)
{
	if (out && len)
		snprintf(out, len, "%s", s);
}

int
ctlclient_status(struct ctlclient *c, struct status *st, char *err,
    size_t errlen)
{
	json_t *req = json_pack("{s:s}", "op", "status");
	json_t *rep = NULL;
	int rc;

	rc = ctlclient_call(c, req, &rep);
	json_decref(req);
	if (rc != 0) {
		set_text(err, errlen, gw_strerror(rc));
		return rc;
	}
	if (!json_is_true(json_object_get(rep, "ok"))) {
		const json_t *e = json_object_get(rep, "error");
		set_text(err, errlen, json_is_string(e) ?
		    json_string_value(e) : "refused");
		json_decref(rep);
		return GW_EINVAL;
	}
	rc = status_from_json(json_object_get(rep, "status"), st, err,
	    errlen);
	json_decref(rep);
	return rc;
}

static int
code_from_name(const char *name)
{
	for (int e = GW__EFIRST + 1; e < GW__ELAST; e++)
		if (name && strcmp(gw_errname(e), name) == 0)
			return e;
	return GW_EINVAL;
}

int
ctlclient_action(struct ctlclient *c, const char *op, const char *id,
    const char *link, const char *route, char *text, size_t textlen,
    json_t **reply)
{
	json_t *req = json_pack("{s:s}", "op", op);
	json_t *rep = NULL;
	const json_t *v;
	int rc;

	if (reply)
		*reply = NULL;
	if (id)
		json_object_set_new(req, "id", json_string(id));
	if (link)
		json_object_set_new(req, "link", json_string(link));
	if (route)
		json_object_set_new(req, "route", json_string(route));
	rc = ctlclient_call(c, req, &rep);
	json_decref(req);
	if (rc != 0) {
		set_text(text, textlen, gw_strerror(rc));
		return rc;
	}
	if (json_is_true(json_object_get(rep, "ok"))) {
		v = json_object_get(rep, "text");
		set_text(text, textlen, json_is_string(v) ?
		    json_string_value(v) : "ok");
		rc = 0;
	} else {
		v = json_object_get(rep, "error");
		set_text(text, textlen, json_is_string(v) ?
		    json_string_value(v) : "refused");
		v = json_object_get(rep, "code");
		rc = code_from_name(json_is_string(v) ? json_string_value(v) :
		    NULL);
	}
	if (reply)
		*reply = rep;
	else
		json_decref(rep);
	return rc;
}

void
ctlclient_explain(int err, const char *path, char *out, size_t len)
{
	switch (err) {
	case -ENOENT:
	case -ECONNREFUSED:
		snprintf(out, len, "skywaved is not running (no control "
		    "socket answering at %s; use --socket PATH)", path);
		break;
	case -EACCES:
	case -EPERM:
		snprintf(out, len, "permission denied on %s: the control "
		    "socket is for members of the operator group", path);
		break;
	default:
		snprintf(out, len, "cannot reach skywaved at %s: %s", path,
		    gw_strerror(err));
		break;
	}
}

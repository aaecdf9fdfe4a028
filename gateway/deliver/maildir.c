/*
 * maildir.c - durable Maildir delivery (tmp -> fsync -> new -> fsync dir).
 *
 * Purpose: final delivery for recipients local to the box, so a field unit
 * needs no other mail server. See maildir.h for the protocol steps.
 *
 * Ownership and threads: maildir_write() is plain blocking code run on a
 * libuv pool thread; struct md_job (one per maildir_deliver call) is owned
 * by the library from submission until its after-work callback on the loop
 * thread, which calls the user back and frees it. No shared mutable state:
 * uniqueness comes from time, pid, random bits and the inode number.
 */
#include "gateway/deliver/maildir.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define MD_CHUNK 65536

static int
sys_open_excl(void *ctx, const char *path)
{
	(void)ctx;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

static ssize_t
sys_write(void *ctx, int fd, const void *p, size_t n)
{
	(void)ctx;
	ssize_t w = write(fd, p, n);
	return w < 0 ? -errno : w;
}

static int
sys_fsync(void *ctx, int fd)
{
	(void)ctx;
	return fsync(fd) != 0 ? -errno : 0;
}

struct md_writer {
	const struct maildir_io *io;
	int fd;
	uint8_t out[MD_CHUNK];
	size_t n;
	int64_t total;
};

static int
w_flush(struct md_writer *w)
{
	size_t off = 0;

	while (off < w->n) {
		ssize_t r = w->io->write ? w->io->write(w->io->ctx, w->fd,
		    w->out + off, w->n - off) : sys_write(NULL, w->fd,
		    w->out + off, w->n - off);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -EIO;
		off += (size_t)r;
	}
	w->n = 0;
	return 0;
}

static int
w_put(struct md_writer *w, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n > 0) {
		size_t k = sizeof(w->out) - w->n;
		if (k > n)
			k = n;
		memcpy(w->out + w->n, s, k);
		w->n += k;
		w->total += (int64_t)k;
		s += k;
		n -= k;
		if (w->n == sizeof(w->out)) {
			int rc = w_flush(w);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

/* Content with CRLF turned into LF (a lone CR is kept). */
static int
w_put_lf(struct md_writer *w, const uint8_t *p, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] == '\r' && p[i + 1] == '\n') {
			int rc = w_put(w, p + start, i - start);
			if (rc != 0)
				return rc;
			start = i + 1; /* the '\n' starts the next run */
		}
	}
	return w_put(w, p + start, len - start);
}

static int
mkdir_if_missing(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

static int
make_tree(const char *dir)
{
	char p[4096];
	int rc;

	/* mkdir -p for the root, then the three subdirectories. */
	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return GW_ETOOBIG;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		rc = mkdir_if_missing(p);
		*s = '/';
		if (rc != 0)
			return rc;
	}
	if ((rc = mkdir_if_missing(p)) != 0)
		return rc;
	static const char *const sub[] = { "tmp", "new", "cur" };
	for (size_t i = 0; i < GW_ARRAY_LEN(sub); i++) {
		if (snprintf(p, sizeof(p), "%s/%s", dir, sub[i]) >=
		    (int)sizeof(p))
			return GW_ETOOBIG;
		if ((rc = mkdir_if_missing(p)) != 0)
			return rc;
	}
	return 0;
}

/* The host part of a unique name: '/' and ':' escaped as octal. */
static void
safe_host(const char *h, char *out, size_t cap)
{
	size_t o = 0;

	for (; *h && o + 5 < cap; h++) {
		if (*h == '/' || *h == ':') {
			o += (size_t)snprintf(out + o, cap - o, "\\%03o",
			    (unsigned)(unsigned char)*h);
		} else if (isprint((unsigned char)*h) && *h != ' ') {
			out[o++] = *h;
		}
	}
	out[o] = '\0';
	if (o == 0)
		snprintf(out, cap, "localhost");
}

static int
fsync_dir(const struct maildir_io *io, const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -errno;
	rc = io->fsync ? io->fsync(io->ctx, fd) : sys_fsync(NULL, fd);
	close(fd);
	return rc;
}

int
maildir_write(const struct maildir_req *req, char *name, size_t namelen)
{
	static const struct maildir_io sys_io = { sys_open_excl, sys_write,
		sys_fsync, NULL };
	const struct maildir_io *io = req->io ? req->io : &sys_io;
	struct md_writer *w = NULL;
	char host[300], tmp[4096], fin[4096], rel[1024];
	struct timeval tv;
	struct stat st;
	uint32_t rnd = 0;
	int fd = -1, rc;

	if (namelen > 0)
		name[0] = '\0';
	if (req->create && (rc = make_tree(req->dir)) != 0)
		return rc;
	safe_host(req->hostname ? req->hostname : "", host, sizeof(host));
	gettimeofday(&tv, NULL);
	for (int attempt = 0; fd < 0; attempt++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			rnd ^= (uint32_t)tv.tv_usec * 2654435761u +
			    (uint32_t)attempt;
		if (snprintf(tmp, sizeof(tmp), "%s/tmp/%lld.M%06ldP%ldR%08x.%s",
		    req->dir, (long long)tv.tv_sec, (long)tv.tv_usec,
		    (long)getpid(), rnd, host) >= (int)sizeof(tmp))
			return GW_ETOOBIG;
		fd = io->open_excl ? io->open_excl(io->ctx, tmp) :
		    sys_open_excl(NULL, tmp);
		if (fd == -EEXIST && attempt < 8) {
			fd = -1;
			continue;
		}
		if (fd < 0)
			return fd;
	}

	w = xmalloc(sizeof(*w));
	w->io = io;
	w->fd = fd;
	w->n = 0;
	w->total = 0;
	char hdr[1200];
	int hn = snprintf(hdr, sizeof(hdr), "Return-Path: <%s>\nDelivered-To: "
	    "%s\n", req->return_path ? req->return_path : "", req->rcpt);
	if (hn < 0 || hn >= (int)sizeof(hdr)) {
		rc = GW_ETOOBIG;
		goto fail;
	}
	if ((rc = w_put(w, hdr, (size_t)hn)) != 0 ||
	    (rc = w_put_lf(w, req->content, req->len)) != 0 ||
	    (rc = w_flush(w)) != 0)
		goto fail;
	rc = io->fsync ? io->fsync(io->ctx, fd) : sys_fsync(NULL, fd);
	if (rc != 0)
		goto fail;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = -errno;
		goto fail;
	}
	fd = -1;

	if (snprintf(rel, sizeof(rel),
	    "new/%lld.M%06ldP%ldV%llxI%llx.%s,S=%lld",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
	    (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, host,
	    (long long)w->total) >= (int)sizeof(rel) ||
	    snprintf(fin, sizeof(fin), "%s/%s", req->dir, rel) >=
	    (int)sizeof(fin)) {
		rc = GW_ETOOBIG;
		goto fail;
	}
	if (link(tmp, fin) != 0) {
		int e = errno;
		/* No hard links here (some FUSE/vfat): rename is atomic too. */
		if (e != EPERM && e != ENOSYS && e != EOPNOTSUPP &&
		    e != EXDEV) {
			rc = -e;
			goto fail;
		}
		if (rename(tmp, fin) != 0) {
			rc = -errno;
			goto fail;
		}
	} else {
		unlink(tmp);
	}
	snprintf(fin, sizeof(fin), "%s/new", req->dir);
	if ((rc = fsync_dir(io, fin)) != 0) {
		/* The entry may not be durable: take the message back so the
		 * queue retries (a duplicate beats a loss). */
		snprintf(fin, sizeof(fin), "%s/%s", req->dir, rel);
		unlink(fin);
		goto fail_unlinked;
	}
	free(w);
	snprintf(name, namelen, "%s", rel);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
fail_unlinked:
	free(w);
	return gw_err_from_errno(rc);
}

struct md_job {
	uv_work_t work;
	struct maildir_req req;    /* strings point into the copies below */
	char *dir, *rcpt, *rp, *host;
	maildir_cb cb;
	void *arg;
	int status;
	char name[1024];
};

static void
md_work(uv_work_t *w)
{
	struct md_job *j = w->data;
	j->status = maildir_write(&j->req, j->name, sizeof(j->name));
}

static void
md_after(uv_work_t *w, int status)
{
	struct md_job *j = w->data;

	if (status == UV_ECANCELED)
		j->status = GW_ECANCELED;
	j->cb(j->status, j->status == 0 ? j->name : "", j->arg);
	free(j->dir);
	free(j->rcpt);
	free(j->rp);
	free(j->host);
	free(j);
}

int
maildir_deliver(uv_loop_t *loop, const struct maildir_req *req,
    maildir_cb cb, void *arg)
{
	struct md_job *j = xcalloc(1, sizeof(*j));
	int rc;

	j->dir = xstrdup(req->dir);
	j->rcpt = xstrdup(req->rcpt);
	j->rp = xstrdup(req->return_path ? req->return_path : "");
	j->host = xstrdup(req->hostname ? req->hostname : "");
	j->req = *req;
	j->req.dir = j->dir;
	j->req.rcpt = j->rcpt;
	j->req.return_path = j->rp;
	j->req.hostname = j->host;
	j->cb = cb;
	j->arg = arg;
	j->work.data = j;
	rc = uv_queue_work(loop, &j->work, md_work, md_after);
	if (rc != 0) {
		free(j->dir);
		free(j->rcpt);
		free(j->rp);
		free(j->host);
		free(j);
	}
	return rc;
}

static bool
safe_component(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || (unsigned char)s[i] < 0x21 ||
		    (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

int
maildir_expand(const char *tmpl, const char *rcpt, char *out, size_t outlen)
{
	const char *at = strrchr(rcpt, '@');
	size_t ll = at ? (size_t)(at - rcpt) : strlen(rcpt);
	const char *dom = at ? at + 1 : "";
	size_t dl = strlen(dom), o = 0;

	for (const char *p = tmpl; *p; p++) {
		const char *s = p;
		size_t n = 1;
		bool lower = false;

		if (*p == '%' && (p[1] == 'u' || p[1] == 'd')) {
			s = p[1] == 'u' ? rcpt : dom;
			n = p[1] == 'u' ? ll : dl;
			lower = true;
			/* A quoted local part is used without its quotes. */
			if (p[1] == 'u' && n >= 2 && s[0] == '"' &&
			    s[n - 1] == '"') {
				s++;
				n -= 2;
			}
			if (!safe_component(s, n))
				return GW_EINVAL;
			p++;
		} else if (*p == '%' && p[1] == '%') {
			p++;
		}
		if (o + n >= outlen)
			return GW_ETOOBIG;
		for (size_t i = 0; i < n; i++)
			out[o++] = lower ? (char)tolower((unsigned char)s[i]) :
			    s[i];
	}
	if (o == 0)
		return GW_EINVAL;
	out[o] = '\0';
	return 0;
}

bool
maildir_seen_delivered_to(const uint8_t *msg, size_t len, const char *rcpt)
{
	size_t i = 0, rl = strlen(rcpt);

	while (i < len) {
		const uint8_t *nl = memchr(msg + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - msg) : len;
		size_t ll = end - i;
		const char *l = (const char *)msg + i;

		if (ll > 0 && msg[end - 1] == '\r')
			ll--;
		if (ll == 0)
			break;
		if (ll > 13 && strncasecmp(l, "Delivered-To:", 13) == 0) {
			const char *v = l + 13;
			size_t vl = ll - 13;
			while (vl > 0 && (*v == ' ' || *v == '\t')) {
				v++;
				vl--;
			}
			while (vl > 0 && (v[vl - 1] == ' ' ||
			    v[vl - 1] == '\t'))
				vl--;
			if (vl >= 2 && v[0] == '<' && v[vl - 1] == '>') {
				v++;
				vl -= 2;
			}
			if (vl == rl && strncasecmp(v, rcpt, rl) == 0)
				return true;
		}
		i = end + 1;
	}
	return false;
}

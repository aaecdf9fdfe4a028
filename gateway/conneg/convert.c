/*
 * convert.c - conv_run() on the libuv thread pool (see convert.h).
 *
 * Job life: convert_start (loop thread) -> work (a pool thread: parse
 * the filter, conv_run) -> after_work (loop thread: callback, free).
 * The worker touches only the job; the loop thread does not touch the job
 * between uv_queue_work and after_work.
 */
#include "gateway/conneg/convert.h"

#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/conneg/caps.h"

#include <stdlib.h>
#include <string.h>

struct convert_job {
	uv_work_t req;
	struct buf in;
	struct buf out;
	struct conv_policy pol;
	char *by_domain;
	char *filter;
	struct convert_result res;
	convert_cb cb;
	void *arg;
};

static void
work(uv_work_t *req)
{
	struct convert_job *j = req->data;
	struct caps_filter *f = NULL;

	j->res.rc = caps_filter_parse(j->filter, &f, NULL);
	if (j->res.rc != 0)
		return;
	j->res.rc = conv_run(j->in.data, j->in.len, &j->pol, f, &j->out,
	    &j->res.rep);
	caps_filter_free(f);
}

static void
after_work(uv_work_t *req, int status)
{
	struct convert_job *j = req->data;

	if (status != 0 && j->res.rc == 0)
		j->res.rc = GW_ECANCELED;
	j->res.orig = &j->in;
	j->res.out = &j->out;
	j->cb(&j->res, j->arg);
	buf_fini(&j->in);
	buf_fini(&j->out);
	free(j->by_domain);
	free(j->filter);
	free(j);
}

int
convert_start(uv_loop_t *loop, struct buf *msg,
    const struct conv_policy *pol, const char *filter_text, convert_cb cb,
    void *arg)
{
	struct convert_job *j = xcalloc(1, sizeof(*j));
	int rc;

	buf_init(&j->in);
	buf_init(&j->out);
	j->pol = *pol;
	j->by_domain = xstrdup(pol->by_domain ? pol->by_domain : "");
	j->pol.by_domain = j->by_domain;
	j->filter = xstrdup(filter_text);
	j->cb = cb;
	j->arg = arg;
	j->req.data = j;
	buf_swap(&j->in, msg);
	rc = uv_queue_work(loop, &j->req, work, after_work);
	if (rc != 0) {
		buf_swap(&j->in, msg);
		buf_fini(&j->in);
		free(j->by_domain);
		free(j->filter);
		free(j);
		return GW_EIO;
	}
	return 0;
}

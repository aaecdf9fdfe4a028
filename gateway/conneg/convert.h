/*
 * convert.h - content conversion off the event loop.
 *
 * Runs conv_run() (gateway/conneg/conv.h) for one recipient on the libuv thread
 * pool and reports the result on the loop thread. The job owns copies of
 * everything the worker touches: the message bytes are moved in (the
 * caller's buffer is swapped out and handed back in the result), the
 * capability filter travels as text and is parsed by the worker, so a
 * capability table swapped by a reload never races the worker.
 *
 * Owner: the loop thread. The callback runs exactly once, also when the
 * work was never started (uv_queue_work failure is returned instead).
 */
#ifndef GW_GATEWAY_CONVERT_H
#define GW_GATEWAY_CONVERT_H

#include "common/buf.h"
#include "gateway/conneg/conv.h"

#include <stdbool.h>
#include <uv.h>

struct convert_result {
	int rc;                 /* 0, or conv_run's / the filter's error */
	struct conv_report rep; /* meaningful with rc == 0 */
	struct buf *orig;       /* the input, handed back */
	struct buf *out;        /* converted bytes with CONV_CONVERTED */
};

/* Called on the loop thread; the buffers in res belong to the job and are
 * freed after the call returns (swap them out to keep them). */
typedef void (*convert_cb)(const struct convert_result *res, void *arg);

/*
 * Start a conversion of *msg (taken: msg is left empty, the bytes come
 * back in res->orig) for a recipient whose capabilities are filter_text
 * (RFC 2533, copied) under pol (copied; by_domain copied). Returns 0 (cb
 * will be called once), or an error (libuv's queue refused; msg is left
 * as it was and cb is never called).
 */
int convert_start(uv_loop_t *loop, struct buf *msg,
    const struct conv_policy *pol, const char *filter_text, convert_cb cb,
    void *arg);

#endif

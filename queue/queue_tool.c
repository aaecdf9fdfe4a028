/*
 * queue_tool.c - read-only synchronous access for tools (see queue_tool.h).
 *
 * Owner: the thread that called queue_tool_open(). Each read runs in its
 * own read transaction (a consistent snapshot per call).
 */
#include "queue/queue_tool.h"

#include "common/err.h"
#include "common/xmalloc.h"
#include "queue/queue_db.h"

#include <stdlib.h>

struct queue_tool {
	struct queue__db *db;
};

int
queue_tool_open(const char *path, struct queue_tool **out)
{
	struct queue__db *db;
	int rc;

	if (path == NULL)
		return GW_EINVAL;
	if ((rc = queue__db_open(path, true, 0, NULL, &db)) != 0)
		return rc;
	*out = xcalloc(1, sizeof(**out));
	(*out)->db = db;
	return 0;
}

void
queue_tool_close(struct queue_tool *t)
{
	if (t == NULL)
		return;
	queue__db_close(t->db);
	free(t);
}

int
queue_tool_is_committed(struct queue_tool *t, const uint8_t id[QUEUE_ID_LEN])
{
	return queue__db_known(t->db, id);
}

int
queue_tool_check(struct queue_tool *t, bool full)
{
	return queue__db_check(t->db, full ? QUEUE_CHECK_FULL :
	    QUEUE_CHECK_QUICK);
}

int
queue_tool_audit(struct queue_tool *t)
{
	return queue__db_audit(t->db);
}

int
queue_tool_stats(struct queue_tool *t, struct queue_stats *s)
{
	return queue__db_stats(t->db, s);
}

int
queue_tool_load(struct queue_tool *t, const uint8_t id[QUEUE_ID_LEN],
    struct queue_msg_info **out)
{
	return queue__db_load(t->db, id, out);
}

void
queue_tool_msg_free(struct queue_msg_info *m)
{
	queue__msg_info_free(m);
}

int
queue_tool_read(struct queue_tool *t, const uint8_t id[QUEUE_ID_LEN],
    int64_t offset, size_t maxlen, struct buf *out, int64_t *total)
{
	return queue__db_read(t->db, id, offset, maxlen, out, total);
}

int
queue_tool_hash(struct queue_tool *t, const uint8_t id[QUEUE_ID_LEN],
    uint8_t sha[32])
{
	return queue__db_hash(t->db, id, sha);
}

int
queue_tool_events(struct queue_tool *t, int64_t after, size_t max,
    struct queue_event **ev, size_t *n)
{
	return queue__db_events(t->db, after, max, ev, n);
}

void
queue_tool_events_free(struct queue_event *ev, size_t n)
{
	queue__events_free(ev, n);
}

int
queue_tool_foreach(struct queue_tool *t, queue_tool_id_fn fn, void *arg)
{
	return queue__db_foreach(t->db, fn, arg);
}

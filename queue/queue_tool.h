/*
 * queue_tool.h - synchronous, read-only access to a queue database for the
 * operator's command-line tool and for tests.
 *
 * A struct queue_tool is an independent read-only SQLite connection owned
 * by the calling thread; it may be used while skywaved runs (WAL readers do
 * not block the writer). Never use it on the daemon's loop thread: every
 * call blocks on disk. Changes (hold, release, ...) go through the daemon,
 * whose queue is the only writer.
 */
#ifndef GW_QUEUE_QUEUE_TOOL_H
#define GW_QUEUE_QUEUE_TOOL_H

#include "queue/queue.h"

struct queue_tool;

/* 0, GW_ENOENT/GW_EIO (cannot open), GW_ECORRUPT, GW_EVERSION. */
int queue_tool_open(const char *path, struct queue_tool **out);
void queue_tool_close(struct queue_tool *t);

/* As queue_is_committed(): GW_EDUP if id is queued or remembered as
 * finished, 0 if unknown. */
int queue_tool_is_committed(struct queue_tool *t,
    const uint8_t id[QUEUE_ID_LEN]);

/* As queue_check(): GW_ECORRUPT if the check reports anything. */
int queue_tool_check(struct queue_tool *t, bool full);
/* Check the queue's own invariants across tables (see queue_db.c): the
 * airtime aggregates, content rows against sizes, collection of finished
 * messages, orphans. GW_ECORRUPT if any fails (each is logged). */
int queue_tool_audit(struct queue_tool *t);
int queue_tool_stats(struct queue_tool *t, struct queue_stats *s);

/* *out is the caller's; free with queue_tool_msg_free(). */
int queue_tool_load(struct queue_tool *t, const uint8_t id[QUEUE_ID_LEN],
    struct queue_msg_info **out);
void queue_tool_msg_free(struct queue_msg_info *m);
/* Appends up to maxlen content bytes at offset to out. */
int queue_tool_read(struct queue_tool *t, const uint8_t id[QUEUE_ID_LEN],
    int64_t offset, size_t maxlen, struct buf *out, int64_t *total);
/* SHA-256 over the stored content; GW_ECORRUPT if its length is wrong. */
int queue_tool_hash(struct queue_tool *t, const uint8_t id[QUEUE_ID_LEN],
    uint8_t sha[32]);

int queue_tool_events(struct queue_tool *t, int64_t after, size_t max,
    struct queue_event **ev, size_t *n);
void queue_tool_events_free(struct queue_event *ev, size_t n);

/* Call fn for each complete message, in arrival order; a non-zero return
 * from fn stops the walk and is returned. */
typedef int (*queue_tool_id_fn)(const uint8_t id[QUEUE_ID_LEN], void *arg);
int queue_tool_foreach(struct queue_tool *t, queue_tool_id_fn fn, void *arg);

#endif

/*
 * queue_db.h - folder-internal: the SQLite side of the queue.
 *
 * Synchronous functions over one sqlite3 connection. Only the queue's owner
 * thread (queue.c) or a tool that opened the database read-only for itself
 * (queue_tool.c) calls them; a struct queue__db belongs to exactly one
 * thread. SQLite result codes are translated to GW_E* here and nowhere else.
 * Nothing here logs except the integrity check (which reports findings) and
 * refused transitions (logged with their ids, once).
 *
 * Write functions expect the caller to hold a transaction (queue__db_begin)
 * and, to undo one request, a savepoint around it.
 */
#ifndef GW_QUEUE_QUEUE_DB_H
#define GW_QUEUE_QUEUE_DB_H

#include "queue/queue.h"

#include <stdbool.h>
#include <stdint.h>

#define QUEUE__SCHEMA_VERSION 2
#define QUEUE__NO_DEADLINE INT64_MAX

struct queue__db;

/* Open or create path; readonly opens an existing database for tools.
 * max_pages > 0 sets PRAGMA max_page_count; vfs names a registered SQLite
 * VFS (NULL: the default). */
int queue__db_open(const char *path, bool readonly, int64_t max_pages,
    const char *vfs, struct queue__db **out);
void queue__db_close(struct queue__db *d);
/* Translate a SQLite result code into 0 or GW_E*. */
int queue__db_err(int rc);

int queue__db_begin(struct queue__db *d);
int queue__db_commit(struct queue__db *d);
void queue__db_rollback(struct queue__db *d);
int queue__db_savepoint(struct queue__db *d);
int queue__db_release(struct queue__db *d);
void queue__db_rollback_to(struct queue__db *d);
/* False if SQLite dropped the transaction after an error. */
bool queue__db_in_txn(struct queue__db *d);

int queue__db_check(struct queue__db *d, enum queue_check how);
int queue__db_set_max_pages(struct queue__db *d, int64_t max_pages);
/* In-flight recipients back to queued; *n how many. */
int queue__db_recover(struct queue__db *d, int64_t now, int64_t *n);
/* Forget ids finished before now - dup_s and events older than now - ev_s,
 * at most limit rows of each. */
int queue__db_prune(struct queue__db *d, int64_t now, int64_t dup_s,
    int64_t ev_s, int limit);

/* 0 if id is unknown, GW_EDUP if committed or remembered. */
int queue__db_known(struct queue__db *d, const uint8_t id[QUEUE_ID_LEN]);
int queue__db_submit(struct queue__db *d, const struct queue_envelope *env,
    const uint8_t *content, size_t len, const uint8_t sha[32], int64_t now);

int queue__db_select(struct queue__db *d, const char *route, int64_t now,
    size_t max, struct queue_work **out, size_t *n);
void queue__work_free(struct queue_work *w, size_t n);
int queue__db_bytes_ahead(struct queue__db *d, const char *route,
    const uint8_t id[QUEUE_ID_LEN], int64_t *bytes);

int queue__db_update(struct queue__db *d, const struct queue_change *ch,
    size_t n, int64_t now);

enum queue__msg_op { QUEUE__OP_HOLD, QUEUE__OP_RELEASE, QUEUE__OP_CANCEL,
	QUEUE__OP_REQUEUE };
int queue__db_msg_op(struct queue__db *d, const uint8_t id[QUEUE_ID_LEN],
    enum queue__msg_op op, const char *arg, int64_t now, int64_t *count);

/* *out is heap-allocated; free with queue__msg_info_free. */
int queue__db_load(struct queue__db *d, const uint8_t id[QUEUE_ID_LEN],
    struct queue_msg_info **out);
void queue__msg_info_free(struct queue_msg_info *m);
/* Appends up to maxlen bytes at offset to out. */
int queue__db_read(struct queue__db *d, const uint8_t id[QUEUE_ID_LEN],
    int64_t offset, size_t maxlen, struct buf *out, int64_t *total);
/* SHA-256 of the stored content, streamed row by row. */
int queue__db_hash(struct queue__db *d, const uint8_t id[QUEUE_ID_LEN],
    uint8_t sha[32]);

int queue__db_partial_begin(struct queue__db *d,
    const struct queue_envelope *env, int64_t total, int64_t now,
    int64_t *offset);
/* GW_ESTATE with *offset = committed offset when offset is not it. */
int queue__db_partial_append(struct queue__db *d,
    const uint8_t id[QUEUE_ID_LEN], int64_t offset, const uint8_t *data,
    size_t len, int64_t now, int64_t *newoff);
int queue__db_partial_offset(struct queue__db *d,
    const uint8_t id[QUEUE_ID_LEN], int64_t *offset);
/* Returns 0 with *verdict 0 (queued) or GW_ECORRUPT (dropped: its deletion
 * must still be committed), or an error to roll back. */
int queue__db_partial_finish(struct queue__db *d,
    const uint8_t id[QUEUE_ID_LEN], const uint8_t sha[32], int64_t now,
    int *verdict);
int queue__db_partial_abort(struct queue__db *d,
    const uint8_t id[QUEUE_ID_LEN], int64_t now);

int queue__db_events(struct queue__db *d, int64_t after, size_t max,
    struct queue_event **out, size_t *n);
void queue__events_free(struct queue_event *ev, size_t n);
int queue__db_stats(struct queue__db *d, struct queue_stats *s);
/* Waiting recipients for the operator (queue_list). */
int queue__db_list(struct queue__db *d, const char *route, int band,
    unsigned states, size_t max,
    struct queue_work **out, size_t *n);
/* Messages with held recipients (queue_held); *out is malloc'ed. */
int queue__db_held(struct queue__db *d, size_t max, struct queue_held **out,
    size_t *n);

/* Check the invariants the queue keeps across tables (aggregates match the
 * recipients, content rows match sizes, finished messages are collected,
 * no orphans). GW_ECORRUPT (each violation logged) or 0. O(database). */
int queue__db_audit(struct queue__db *d);

/* Visit every complete message id in arrival order (tools, tests). */
typedef int (*queue__id_fn)(const uint8_t id[QUEUE_ID_LEN], void *arg);
int queue__db_foreach(struct queue__db *d, queue__id_fn fn, void *arg);

#endif

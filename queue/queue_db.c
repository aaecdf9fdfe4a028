/*
 * queue_db.c - schema, migrations and every SQL statement of the queue.
 *
 * Owner: one thread per struct queue__db (the queue's owner thread, or a
 * tool's own read-only handle). All SQL is prepared once and bound; SQLite
 * result codes become GW_E* in queue__db_err() only.
 *
 * Schema (PRAGMA user_version = QUEUE__SCHEMA_VERSION; forward-only
 * migrations in migrations[]):
 *   message     one row per message or partial incoming transfer; mid is
 *               the arrival order (rowids only grow while rows exist).
 *               complete = 0 marks a partial transfer: invisible to
 *               selection, airtime, operator actions and tools' listings.
 *   chunk       content in rows of exactly QUEUE_CHUNK_BYTES: row k of
 *               message mid has rowid (mid << 20) | k, so rows need no
 *               index and a message's rows are contiguous. 4056 bytes is
 *               the largest row that a 4 KiB page holds without an
 *               overflow chain: each row is one page, ~99 % full.
 *   tail        the last (size mod QUEUE_CHUNK_BYTES) bytes of a message,
 *               one row per message (possibly empty), packed densely.
 *               Partial transfers keep their not-yet-full row here too.
 *               Reads at an offset open only the rows they span
 *               (incremental blob I/O), never the whole message.
 *   rcpt        one row per recipient with its state (queue_rcpt.h), the
 *               message's band and size and its effective deadline copied
 *               in so the scheduling index covers selection and airtime.
 *   route_band  per (route, band): messages and bytes with a pending
 *               recipient on route; airtime of higher bands in O(bands).
 *   seen        ids of finished messages, for duplicate suppression, kept
 *               for the retention. (Queued messages are found in message.)
 *   event       the event log the console reads.
 *   Partial indexes on rcpt(mid) for HELD and FAILED rows (v2).
 *
 * Invariant kept by every write here: for each complete message m and
 * route r, route_band(r, band(m)) counts m exactly once iff m has a
 * pending (queued, deferred, in flight) recipient on r. Functions that
 * change recipients call acct(m, -1) before and acct(m, +1) after.
 */
#include "queue/queue_db.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"

#include <sodium.h>
#include <sqlite3.h>
#include <string.h>

#define SUB "queue"
/* State sets as SQL lists, from queue_rcpt.h's one list. */
#define PENDING_SQL                                                    \
	"(" QUEUE_RS_SQL(QUEUED) "," QUEUE_RS_SQL(DEFERRED) ","        \
	    QUEUE_RS_SQL(INFLIGHT) ")"
#define FINAL_SQL                                                      \
	"(" QUEUE_RS_SQL(RELAYED) "," QUEUE_RS_SQL(DELIVERED) ","      \
	    QUEUE_RS_SQL(REDIRECTED) "," QUEUE_RS_SQL(DSN_QUEUED) ")"

static void
free_const(const void *p)
{
	free((void *)(uintptr_t)p);
}

/* --- schema -------------------------------------------------------------- */

static const char schema_v1[] =
    "CREATE TABLE message("
    " mid INTEGER PRIMARY KEY,"
    " id BLOB NOT NULL UNIQUE,"
    " reverse_path TEXT NOT NULL,"
    " priority INTEGER NOT NULL,"
    " band INTEGER NOT NULL,"
    " by_deadline INTEGER NOT NULL,"
    " by_mode INTEGER NOT NULL,"
    " by_trace INTEGER NOT NULL,"
    " aby_deadline INTEGER NOT NULL,"
    " envid TEXT,"
    " ret INTEGER NOT NULL,"
    " body INTEGER NOT NULL,"
    " size_declared INTEGER NOT NULL,"
    " arrival INTEGER NOT NULL,"
    " client TEXT,"
    " conperm INTEGER NOT NULL,"
    " size INTEGER NOT NULL,"
    " total INTEGER NOT NULL,"
    " sha256 BLOB,"
    " complete INTEGER NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE chunk("
    " cid INTEGER PRIMARY KEY,"
    " data BLOB NOT NULL);"
    "CREATE TABLE tail("
    " mid INTEGER PRIMARY KEY,"
    " data BLOB NOT NULL);"
    "CREATE TABLE rcpt("
    " rid INTEGER PRIMARY KEY,"
    " mid INTEGER NOT NULL,"
    " idx INTEGER NOT NULL,"
    " addr TEXT NOT NULL,"
    " notify INTEGER NOT NULL,"
    " orcpt TEXT,"
    " arcpt TEXT,"
    " flags INTEGER NOT NULL,"
    " route TEXT NOT NULL,"
    " state INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL,"
    " next_attempt INTEGER NOT NULL,"
    " last_error TEXT,"
    " last_status TEXT,"
    " band INTEGER NOT NULL,"
    " deadline INTEGER NOT NULL,"
    " size INTEGER NOT NULL,"
    " parent INTEGER NOT NULL);"
    "CREATE INDEX rcpt_mid ON rcpt(mid);"
    "CREATE INDEX rcpt_order ON rcpt(route, band DESC, deadline, mid, size)"
    " WHERE state IN " PENDING_SQL ";"
    "CREATE INDEX rcpt_inflight ON rcpt(mid) WHERE state = " QUEUE_RS_SQL(INFLIGHT) ";"
    "CREATE INDEX rcpt_ready ON rcpt(route, band DESC, deadline, mid)"
    " WHERE state = " QUEUE_RS_SQL(QUEUED) ";"
    "CREATE INDEX rcpt_retry ON rcpt(route, next_attempt) WHERE state = " QUEUE_RS_SQL(DEFERRED) ";"
    "CREATE TABLE route_band("
    " route TEXT NOT NULL,"
    " band INTEGER NOT NULL,"
    " msgs INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL,"
    " PRIMARY KEY(route, band)) WITHOUT ROWID;"
    "CREATE TABLE seen("
    " id BLOB PRIMARY KEY,"
    " t INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE event("
    " eid INTEGER PRIMARY KEY,"
    " t INTEGER NOT NULL,"
    " id BLOB,"
    " rid INTEGER NOT NULL,"
    " kind TEXT NOT NULL,"
    " old INTEGER NOT NULL,"
    " new INTEGER NOT NULL,"
    " reason TEXT);";

/* Version 2: the few recipients an operator holds or whose DSN is still
 * owed are found without a scan (the held list and the DSN sweep). */
static const char schema_v2[] =
    "CREATE INDEX rcpt_held ON rcpt(mid) WHERE state = " QUEUE_RS_SQL(HELD) ";"
    "CREATE INDEX rcpt_failed ON rcpt(mid) WHERE state = " QUEUE_RS_SQL(FAILED) ";";

/* migrations[v] takes the schema from version v to v + 1. */
static const char *const migrations[] = {
	schema_v1,
	schema_v2,
};

/* --- statements ---------------------------------------------------------- */

#define STMT_MAP(XX)                                                         \
	XX(BEGIN, "BEGIN IMMEDIATE")                                         \
	XX(COMMIT, "COMMIT")                                                 \
	XX(ROLLBACK, "ROLLBACK")                                             \
	XX(SAVEPOINT, "SAVEPOINT req")                                       \
	XX(RELEASE, "RELEASE req")                                           \
	XX(ROLLBACK_TO, "ROLLBACK TO req")                                   \
	XX(KNOWN, "SELECT complete FROM message WHERE id = ?1 UNION ALL"     \
		  " SELECT 1 FROM seen WHERE id = ?1")                       \
	XX(MSG_INSERT, "INSERT INTO message(id, reverse_path, priority,"     \
		       " band, by_deadline, by_mode, by_trace,"               \
		       " aby_deadline, envid, ret, body, size_declared,"      \
		       " arrival, client, conperm, size, total, sha256,"      \
		       " complete, created) VALUES(?1, ?2, ?3, ?4, ?5, ?6,"   \
		       " ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"      \
		       " ?17, ?18, ?19, ?20)")                                \
	XX(MSG_GET, "SELECT mid, band, size, total, complete, by_deadline"   \
		    " FROM message WHERE id = ?1")                           \
	XX(MSG_LOAD, "SELECT reverse_path, priority, band, by_deadline,"     \
		     " by_mode, by_trace, aby_deadline, envid, ret, body,"    \
		     " size_declared, arrival, client, conperm, size, total," \
		     " sha256, complete, mid FROM message WHERE id = ?1")     \
	XX(MSG_DELETE, "DELETE FROM message WHERE mid = ?1")                 \
	XX(MSG_SET_SIZE, "UPDATE message SET size = ?2 WHERE mid = ?1")      \
	XX(MSG_COMPLETE, "UPDATE message SET complete = 1, sha256 = ?2"      \
			 " WHERE mid = ?1")                                  \
	XX(CHUNK_INSERT, "INSERT INTO chunk(cid, data) VALUES(?1, ?2)")     \
	XX(CHUNK_RANGE, "SELECT data FROM chunk WHERE cid BETWEEN ?1 AND ?2" \
			" ORDER BY cid")                                     \
	XX(CHUNK_DELETE, "DELETE FROM chunk WHERE cid BETWEEN ?1 AND ?2")   \
	XX(TAIL_SET, "INSERT OR REPLACE INTO tail(mid, data) VALUES(?1, ?2)") \
	XX(TAIL_GET, "SELECT data FROM tail WHERE mid = ?1")                 \
	XX(TAIL_DELETE, "DELETE FROM tail WHERE mid = ?1")                   \
	XX(RCPT_INSERT, "INSERT INTO rcpt(mid, idx, addr, notify, orcpt,"    \
			" arcpt, flags, route, state, attempts,"             \
			" next_attempt, band, deadline, size, parent)"       \
			" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, 0,"  \
			" ?10, ?11, ?12, ?13)")                               \
	XX(RCPT_GET, "SELECT r.mid, r.state, r.route, r.arcpt, r.notify,"    \
		     " r.orcpt, r.flags, r.next_attempt, r.last_error,"       \
		     " r.last_status, m.band, m.size, m.by_deadline, m.id,"   \
		     " m.complete FROM rcpt r JOIN message m"                 \
		     " ON m.mid = r.mid WHERE r.rid = ?1")                    \
	XX(RCPT_SET, "UPDATE rcpt SET state = ?2, attempts = attempts + ?3," \
		     " next_attempt = ?4, last_error = ?5, last_status = ?6," \
		     " route = ?7 WHERE rid = ?1")                            \
	XX(RCPT_OF_MSG, "SELECT rid, state FROM rcpt WHERE mid = ?1"         \
			" ORDER BY idx")                                     \
	XX(RCPT_LOAD, "SELECT rid, addr, notify, orcpt, arcpt, flags,"       \
		      " route, state, attempts, next_attempt, deadline,"      \
		      " last_error, last_status, parent FROM rcpt"            \
		      " WHERE mid = ?1 ORDER BY idx")                         \
	XX(RCPT_MAXIDX, "SELECT max(idx) FROM rcpt WHERE mid = ?1")          \
	XX(RCPT_LIVE, "SELECT count(*) FROM rcpt WHERE mid = ?1"             \
		      " AND state NOT IN " FINAL_SQL)                         \
	XX(RCPT_DELETE, "DELETE FROM rcpt WHERE mid = ?1")                   \
	XX(RCPT_FINISH, "UPDATE rcpt SET state = " QUEUE_RS_SQL(QUEUED) " WHERE mid = ?1"           \
			" AND state = " QUEUE_RS_SQL(INCOMING))                                    \
	XX(PENDING_ROUTES, "SELECT DISTINCT route FROM rcpt WHERE mid = ?1"  \
			   " AND state IN " PENDING_SQL)                      \
	XX(RB_ADD, "INSERT INTO route_band(route, band, msgs, bytes)"        \
		   " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(route, band) DO"      \
		   " UPDATE SET msgs = msgs + excluded.msgs,"                 \
		   " bytes = bytes + excluded.bytes")                         \
	XX(RB_ABOVE, "SELECT coalesce(sum(bytes), 0) FROM route_band"        \
		     " WHERE route = ?1 AND band > ?2")                       \
	XX(MY_DEADLINE, "SELECT min(deadline) FROM rcpt WHERE mid = ?1"      \
			" AND route = ?2 AND state IN " PENDING_SQL)          \
	XX(SAME_BAND_AHEAD, "SELECT count(*), coalesce(sum(size), 0) FROM"   \
			    " (SELECT DISTINCT mid, size FROM rcpt"          \
			    " WHERE route = ?1 AND band = ?2"                 \
			    " AND state IN " PENDING_SQL                      \
			    " AND (deadline, mid) < (?3, ?4) AND mid <> ?4"   \
			    " LIMIT ?5)")                                     \
	XX(SAME_BAND_BEHIND, "SELECT count(*), coalesce(sum(size), 0) FROM"  \
			     " (SELECT DISTINCT mid, size FROM rcpt"         \
			     " WHERE route = ?1 AND band = ?2"                \
			     " AND state IN " PENDING_SQL                     \
			     " AND (deadline, mid) > (?3, ?4) AND mid <> ?4"  \
			     " LIMIT ?5)")                                    \
	XX(RB_BAND, "SELECT bytes FROM route_band WHERE route = ?1"          \
		    " AND band = ?2")                                         \
	XX(SELECT_READY, "SELECT r.rid, m.id, r.band, r.deadline, r.size,"   \
			 " m.arrival, r.state, r.attempts, r.addr, r.mid"     \
			 " FROM rcpt r INDEXED BY rcpt_ready JOIN message m"  \
			 " ON m.mid = r.mid WHERE r.route = ?1"               \
			 " AND r.state = " QUEUE_RS_SQL(QUEUED)                                   \
			 " ORDER BY r.band DESC, r.deadline, r.mid, r.rid"    \
			 " LIMIT ?2")                                         \
	XX(SELECT_RETRY, "SELECT r.rid, m.id, r.band, r.deadline, r.size,"   \
			 " m.arrival, r.state, r.attempts, r.addr, r.mid"     \
			 " FROM rcpt r INDEXED BY rcpt_retry JOIN message m"  \
			 " ON m.mid = r.mid WHERE r.route = ?1"               \
			 " AND r.state = " QUEUE_RS_SQL(DEFERRED) " AND r.next_attempt <= ?3"          \
			 " ORDER BY r.band DESC, r.deadline, r.mid, r.rid"    \
			 " LIMIT ?2")                                         \
	XX(EVENT_INSERT, "INSERT INTO event(t, id, rid, kind, old, new,"     \
			 " reason) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)")       \
	XX(EVENT_LIST, "SELECT eid, t, id, rid, kind, old, new, reason"      \
		       " FROM event WHERE eid > ?1 ORDER BY eid LIMIT ?2")    \
	XX(EVENT_RECOVER, "INSERT INTO event(t, id, rid, kind, old, new,"    \
			  " reason) SELECT ?1, m.id, r.rid, 'state', 2, 0,"   \
			  " 'recovered at start' FROM rcpt r"                 \
			  " INDEXED BY rcpt_inflight JOIN message m"          \
			  " ON m.mid = r.mid WHERE r.state = " QUEUE_RS_SQL(INFLIGHT))              \
	XX(RECOVER, "UPDATE rcpt SET state = " QUEUE_RS_SQL(QUEUED) ", next_attempt = 0"            \
		    " WHERE state = " QUEUE_RS_SQL(INFLIGHT))                                      \
	XX(SEEN_INSERT, "INSERT OR REPLACE INTO seen(id, t) VALUES(?1, ?2)") \
	XX(SEEN_PRUNE, "DELETE FROM seen WHERE id IN (SELECT id FROM seen"   \
		       " WHERE t < ?1 LIMIT ?2)")                             \
	XX(EVENT_PRUNE, "DELETE FROM event WHERE eid IN (SELECT eid FROM"    \
			" event ORDER BY eid LIMIT ?2) AND t < ?1")           \
	XX(STAT_MSGS, "SELECT coalesce(sum(complete = 1), 0),"               \
		      " coalesce(sum(complete = 0), 0),"                      \
		      " coalesce(sum(CASE WHEN complete = 1 THEN size END), 0)" \
		      " FROM message")                                        \
	XX(STAT_RCPTS, "SELECT coalesce(sum(state = " QUEUE_RS_SQL(QUEUED) "), 0),"                 \
		       " coalesce(sum(state = " QUEUE_RS_SQL(DEFERRED) "), 0), coalesce(sum(state = " QUEUE_RS_SQL(INFLIGHT) "), 0)," \
		       " coalesce(sum(state = " QUEUE_RS_SQL(HELD) "), 0), coalesce(sum(state = " QUEUE_RS_SQL(RELAYED) "), 0)," \
		       " coalesce(sum(state = " QUEUE_RS_SQL(DELIVERED) "), 0), coalesce(sum(state = " QUEUE_RS_SQL(REDIRECTED) "), 0)," \
		       " coalesce(sum(state = " QUEUE_RS_SQL(FAILED) "), 0), coalesce(sum(state = " QUEUE_RS_SQL(DSN_QUEUED) "), 0)," \
		       " coalesce(sum(state = " QUEUE_RS_SQL(INCOMING) "), 0) FROM rcpt")               \
	XX(LIST_FAILED, "SELECT r.rid, m.id, r.band, r.deadline, r.size,"    \
			" m.arrival, r.state, r.attempts, r.addr, r.route,"   \
			" r.next_attempt FROM rcpt r INDEXED BY rcpt_failed"  \
			" JOIN message m ON m.mid = r.mid WHERE r.state = " QUEUE_RS_SQL(FAILED)  \
			" AND m.complete = 1 ORDER BY r.mid, r.rid LIMIT ?1") \
	XX(LIST, "SELECT r.rid, m.id, r.band, r.deadline, r.size,"           \
		 " m.arrival, r.state, r.attempts, r.addr, r.route,"          \
		 " r.next_attempt, m.reverse_path, m.priority, r.last_error"  \
		 " FROM rcpt r JOIN message m"                                \
		 " ON m.mid = r.mid WHERE ((1 << r.state) & ?4) <> 0"          \
		 " AND m.complete = 1"                                        \
		 " AND (?2 IS NULL OR r.route = ?2)"                          \
		 " AND (?3 < 0 OR r.band = ?3)"                               \
		 " ORDER BY r.band DESC, r.deadline, r.mid, r.rid LIMIT ?1")  \
	/* one pass over the event log (no index on its id), at start */   \
	XX(HELD_LIST, "WITH last AS (SELECT id, max(eid) AS eid FROM event"  \
		      " WHERE new = 3 GROUP BY id)"                          \
		      " SELECT m.id, e.t, e.reason FROM message m"            \
		      " LEFT JOIN last l ON l.id = m.id"                      \
		      " LEFT JOIN event e ON e.eid = l.eid"                   \
		      " WHERE m.complete = 1 AND m.mid IN (SELECT mid FROM"   \
		      " rcpt WHERE state = " QUEUE_RS_SQL(HELD) ") ORDER BY m.mid LIMIT ?1")       \
	XX(ANY_HELD, "SELECT 1 FROM rcpt WHERE state = " QUEUE_RS_SQL(HELD) " LIMIT 1")          \
	XX(FOREACH, "SELECT mid, id FROM message WHERE complete = 1"         \
		    " AND mid > ?1 ORDER BY mid LIMIT 256")

enum stmt_id {
#define XX(name, sql) ST_##name,
	STMT_MAP(XX)
#undef XX
	ST__COUNT
};

static const char *const stmt_sql[] = {
#define XX(name, sql) sql,
	STMT_MAP(XX)
#undef XX
};

struct queue__db {
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	bool readonly;
};

int
queue__db_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_FULL:
		return GW_ENOSPC;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PROTOCOL:
		return GW_EIO;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_FORMAT:
		return GW_ECORRUPT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return GW_EBUSY;
	case SQLITE_CONSTRAINT:
		return GW_EEXIST;
	case SQLITE_TOOBIG:
		return GW_ETOOBIG;
	case SQLITE_NOMEM:
		gw__require_fail("sqlite out of memory", __FILE__, __LINE__);
	default:
		return GW_EINTERNAL;
	}
}

/* A reset statement, prepared on first use. */
static sqlite3_stmt *
stmt(struct queue__db *d, enum stmt_id id)
{
	sqlite3_stmt *s = d->st[id];

	if (s == NULL) {
		int rc = sqlite3_prepare_v3(d->db, stmt_sql[id], -1,
		    SQLITE_PREPARE_PERSISTENT, &d->st[id], NULL);
		if (rc != SQLITE_OK) {
			GW_LOGE(SUB, "event=prepare_failed stmt=%d err=\"%s\"",
			    (int)id, gw_logq(sqlite3_errmsg(d->db)));
			gw__require_fail("SQL statement prepares", __FILE__,
			    __LINE__);
		}
		return d->st[id];
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

/* Step a statement that returns no row of interest; resets it. */
static int
run(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : queue__db_err(rc);
}

/* Step once: 1 = row, 0 = done, < 0 = error. */
static int
step(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	rc = queue__db_err(sqlite3_reset(s));
	return rc ? rc : GW_EINTERNAL;
}

static void
bind_id(sqlite3_stmt *s, int i, const uint8_t id[QUEUE_ID_LEN])
{
	sqlite3_bind_blob(s, i, id, QUEUE_ID_LEN, SQLITE_STATIC);
}

static void
bind_text(sqlite3_stmt *s, int i, const char *t)
{
	if (t)
		sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static char *
col_strdup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? xstrdup((const char *)t) : NULL;
}

static int
exec(struct queue__db *d, const char *sql)
{
	return queue__db_err(sqlite3_exec(d->db, sql, NULL, NULL, NULL));
}

static int
pragma_int(struct queue__db *d, const char *sql, int64_t *out)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(d->db, sql, -1, &s, NULL);

	if (rc != SQLITE_OK)
		return queue__db_err(rc);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : queue__db_err(rc);
	sqlite3_finalize(s);
	return rc;
}

/* --- open, migrate, close ------------------------------------------------ */

static int
migrate(struct queue__db *d)
{
	int64_t v = 0;
	int rc = pragma_int(d, "PRAGMA user_version", &v);

	if (rc)
		return rc;
	if (v > QUEUE__SCHEMA_VERSION)
		return GW_EVERSION;
	if (v == QUEUE__SCHEMA_VERSION)
		return 0;
	if (d->readonly)
		return GW_EVERSION;
	if ((rc = exec(d, "BEGIN IMMEDIATE")) != 0)
		return rc;
	for (; v < QUEUE__SCHEMA_VERSION; v++) {
		char sql[64];
		if ((rc = exec(d, migrations[v])) != 0)
			goto fail;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld",
		    (long long)v + 1);
		if ((rc = exec(d, sql)) != 0)
			goto fail;
	}
	if ((rc = exec(d, "COMMIT")) != 0)
		goto fail;
	GW_LOGI(SUB, "event=schema version=%d", QUEUE__SCHEMA_VERSION);
	return 0;
fail:
	exec(d, "ROLLBACK");
	return rc;
}

int
queue__db_set_max_pages(struct queue__db *d, int64_t max_pages)
{
	char sql[64];

	/* SQLite never lowers the limit below the current size and treats
	 * 0 as "report only"; 2^31-2 is its largest page count. */
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
	    (long long)(max_pages > 0 ? max_pages : 4294967294LL));
	return exec(d, sql);
}

int
queue__db_open(const char *path, bool readonly, int64_t max_pages,
    const char *vfs, struct queue__db **out)
{
	struct queue__db *d = xcalloc(1, sizeof(*d));
	int flags = readonly ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int rc;
	char mode[16] = "";

	d->readonly = readonly;
	rc = sqlite3_open_v2(path, &d->db, flags | SQLITE_OPEN_NOMUTEX, vfs);
	if (rc != SQLITE_OK) {
		rc = queue__db_err(rc);
		goto fail;
	}
	sqlite3_extended_result_codes(d->db, 1);
	sqlite3_busy_timeout(d->db, 5000);
	/* Reading the header first turns "not a database" into an error
	 * here instead of at the first request. */
	if ((rc = exec(d, "PRAGMA temp_store = MEMORY;"
			  "PRAGMA cache_size = -2048;"
			  "SELECT count(*) FROM sqlite_master")) != 0)
		goto fail;
	if (!readonly) {
		sqlite3_stmt *s;
		/* page_size only takes effect on a new database; the content
		 * row size (QUEUE_CHUNK_BYTES) is chosen for 4 KiB pages. */
		if ((rc = exec(d, "PRAGMA page_size = 4096;"
				  "PRAGMA synchronous = FULL;"
				  "PRAGMA journal_size_limit = 16777216")) != 0)
			goto fail;
		rc = sqlite3_prepare_v2(d->db, "PRAGMA journal_mode = WAL", -1,
		    &s, NULL);
		if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
			snprintf(mode, sizeof(mode), "%s",
			    (const char *)sqlite3_column_text(s, 0));
		rc = queue__db_err(sqlite3_finalize(s));
		if (rc)
			goto fail;
		if (strcmp(mode, "wal") != 0) {
			rc = GW_EIO;
			goto fail;
		}
		if (max_pages > 0 &&
		    (rc = queue__db_set_max_pages(d, max_pages)) != 0)
			goto fail;
	}
	if ((rc = migrate(d)) != 0)
		goto fail;
	*out = d;
	return 0;
fail:
	queue__db_close(d);
	return rc;
}

void
queue__db_close(struct queue__db *d)
{
	if (d == NULL)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(d->st[i]);
	sqlite3_close(d->db);
	free(d);
}

/* --- transactions -------------------------------------------------------- */

int
queue__db_begin(struct queue__db *d)
{
	return run(stmt(d, ST_BEGIN));
}

int
queue__db_commit(struct queue__db *d)
{
	int rc = run(stmt(d, ST_COMMIT));

	if (rc && !sqlite3_get_autocommit(d->db))
		queue__db_rollback(d);
	return rc;
}

void
queue__db_rollback(struct queue__db *d)
{
	if (!sqlite3_get_autocommit(d->db))
		(void)run(stmt(d, ST_ROLLBACK));
}

int
queue__db_savepoint(struct queue__db *d)
{
	return run(stmt(d, ST_SAVEPOINT));
}

int
queue__db_release(struct queue__db *d)
{
	return run(stmt(d, ST_RELEASE));
}

void
queue__db_rollback_to(struct queue__db *d)
{
	if (!sqlite3_get_autocommit(d->db)) {
		(void)run(stmt(d, ST_ROLLBACK_TO));
		(void)run(stmt(d, ST_RELEASE));
	}
}

bool
queue__db_in_txn(struct queue__db *d)
{
	return !sqlite3_get_autocommit(d->db);
}

/* --- checks and recovery ------------------------------------------------- */

static int
check_one(struct queue__db *d, const char *sql, const char *what)
{
	sqlite3_stmt *s;
	int rc, bad = 0;

	rc = sqlite3_prepare_v2(d->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return queue__db_err(rc);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 0);
		char line[256];
		if (t && strcmp(t, "ok") == 0)
			continue;
		bad++;
		/* one finding, one log line */
		snprintf(line, sizeof(line), "%s", t ? t : "?");
		for (char *p = line; *p; p++)
			if (*p == '\n' || *p == '"')
				*p = ' ';
		GW_LOGE(SUB, "event=corruption check=%s finding=\"%s\"", what,
		    gw_logq(line));
	}
	rc = rc == SQLITE_DONE ? 0 : queue__db_err(rc);
	sqlite3_finalize(s);
	if (rc == 0 && bad)
		rc = GW_ECORRUPT;
	return rc;
}

/* The tables holding the queue's state (all but the content rows). */
static const char *const state_tables[] = { "message", "rcpt", "tail",
	"route_band", "seen", "event" };

int
queue__db_check(struct queue__db *d, enum queue_check how)
{
	int rc = 0;

	switch (how) {
	case QUEUE_CHECK_NONE:
		return 0;
	case QUEUE_CHECK_QUICK:
		return check_one(d, "PRAGMA quick_check(20)", "quick");
	case QUEUE_CHECK_FULL:
		return check_one(d, "PRAGMA integrity_check(20)", "integrity");
	case QUEUE_CHECK_STATE:
		for (size_t i = 0; i < GW_ARRAY_LEN(state_tables); i++) {
			char sql[64];
			snprintf(sql, sizeof(sql), "PRAGMA quick_check(%s)",
			    state_tables[i]);
			int r = check_one(d, sql, state_tables[i]);
			if (r && (rc == 0 || r == GW_ECORRUPT))
				rc = r;
		}
		return rc;
	}
	return GW_EINVAL;
}

int
queue__db_recover(struct queue__db *d, int64_t now, int64_t *n)
{
	sqlite3_stmt *s = stmt(d, ST_EVENT_RECOVER);
	int rc;

	sqlite3_bind_int64(s, 1, now);
	if ((rc = run(s)) != 0)
		return rc;
	if ((rc = run(stmt(d, ST_RECOVER))) != 0)
		return rc;
	*n = sqlite3_changes64(d->db);
	return 0;
}

int
queue__db_prune(struct queue__db *d, int64_t now, int64_t dup_s,
    int64_t ev_s, int limit)
{
	sqlite3_stmt *s = stmt(d, ST_SEEN_PRUNE);
	int rc;

	sqlite3_bind_int64(s, 1, now - dup_s);
	sqlite3_bind_int(s, 2, limit);
	if ((rc = run(s)) != 0)
		return rc;
	s = stmt(d, ST_EVENT_PRUNE);
	sqlite3_bind_int64(s, 1, now - ev_s);
	sqlite3_bind_int(s, 2, limit);
	return run(s);
}

/* --- helpers ------------------------------------------------------------- */

static int
event(struct queue__db *d, int64_t now, const uint8_t *id, int64_t rid,
    const char *kind, int old, int new_, const char *reason)
{
	sqlite3_stmt *s = stmt(d, ST_EVENT_INSERT);

	sqlite3_bind_int64(s, 1, now);
	if (id)
		bind_id(s, 2, id);
	sqlite3_bind_int64(s, 3, rid);
	bind_text(s, 4, kind);
	sqlite3_bind_int(s, 5, old);
	sqlite3_bind_int(s, 6, new_);
	bind_text(s, 7, reason);
	return run(s);
}

#define CHUNK_SHIFT 20
#define MAX_CHUNKS (1 << CHUNK_SHIFT)

static int64_t
chunk_id(int64_t mid, int64_t k)
{
	return (mid << CHUNK_SHIFT) | k;
}

static int
chunk_insert(struct queue__db *d, int64_t mid, int64_t k,
    const uint8_t *data)
{
	sqlite3_stmt *s = stmt(d, ST_CHUNK_INSERT);

	sqlite3_bind_int64(s, 1, chunk_id(mid, k));
	sqlite3_bind_blob(s, 2, data, QUEUE_CHUNK_BYTES, SQLITE_STATIC);
	return run(s);
}

static int
tail_set(struct queue__db *d, int64_t mid, const uint8_t *data, size_t len)
{
	sqlite3_stmt *s = stmt(d, ST_TAIL_SET);

	sqlite3_bind_int64(s, 1, mid);
	sqlite3_bind_blob(s, 2, len ? (const void *)data : "", (int)len,
	    SQLITE_STATIC);
	return run(s);
}

/* Store content bytes [size, size + len) of message mid, whose stored
 * tail holds [size - size % C, size): full rows go to chunk, the rest
 * becomes the new tail. */
static int
content_append(struct queue__db *d, int64_t mid, int64_t size,
    const uint8_t *data, size_t len)
{
	struct buf t = BUF_INIT;
	int64_t k = size / QUEUE_CHUNK_BYTES;
	size_t off = 0;
	int rc = 0;

	if ((size + (int64_t)len) / QUEUE_CHUNK_BYTES >= MAX_CHUNKS)
		return GW_ETOOBIG;
	if (size % QUEUE_CHUNK_BYTES != 0) {
		sqlite3_stmt *s = stmt(d, ST_TAIL_GET);
		sqlite3_bind_int64(s, 1, mid);
		rc = step(s);
		if (rc <= 0)
			return rc ? rc : GW_ECORRUPT;
		buf_append(&t, sqlite3_column_blob(s, 0),
		    (size_t)sqlite3_column_bytes(s, 0));
		sqlite3_reset(s);
		rc = 0;
		if ((int64_t)t.len != size % QUEUE_CHUNK_BYTES) {
			buf_fini(&t);
			return GW_ECORRUPT;
		}
		/* complete the stored partial row first */
		size_t need = QUEUE_CHUNK_BYTES - t.len;
		size_t n = len < need ? len : need;
		buf_append(&t, data, n);
		off = n;
		if (t.len == QUEUE_CHUNK_BYTES) {
			rc = chunk_insert(d, mid, k++, t.data);
			buf_reset(&t);
		}
	}
	while (rc == 0 && len - off >= QUEUE_CHUNK_BYTES) {
		rc = chunk_insert(d, mid, k++, data + off);
		off += QUEUE_CHUNK_BYTES;
	}
	if (rc == 0 && off < len)
		buf_append(&t, data + off, len - off);
	if (rc == 0)
		rc = tail_set(d, mid, t.data, t.len);
	buf_fini(&t);
	return rc;
}

static int
content_delete(struct queue__db *d, int64_t mid)
{
	sqlite3_stmt *s = stmt(d, ST_CHUNK_DELETE);
	int rc;

	sqlite3_bind_int64(s, 1, chunk_id(mid, 0));
	sqlite3_bind_int64(s, 2, chunk_id(mid, MAX_CHUNKS - 1));
	if ((rc = run(s)) != 0)
		return rc;
	s = stmt(d, ST_TAIL_DELETE);
	sqlite3_bind_int64(s, 1, mid);
	return run(s);
}

struct msg_row {
	int64_t mid, band, size, total, by_deadline;
	bool complete;
};

/* GW_ENOENT if the id has no message row. */
static int
msg_get(struct queue__db *d, const uint8_t id[QUEUE_ID_LEN],
    struct msg_row *m)
{
	sqlite3_stmt *s = stmt(d, ST_MSG_GET);
	int rc;

	bind_id(s, 1, id);
	rc = step(s);
	if (rc <= 0)
		return rc ? rc : GW_ENOENT;
	m->mid = sqlite3_column_int64(s, 0);
	m->band = sqlite3_column_int64(s, 1);
	m->size = sqlite3_column_int64(s, 2);
	m->total = sqlite3_column_int64(s, 3);
	m->complete = sqlite3_column_int(s, 4) != 0;
	m->by_deadline = sqlite3_column_int64(s, 5);
	sqlite3_reset(s);
	return 0;
}

/* Add (sign +1) or remove (-1) message mid from route_band for every route
 * it has a pending recipient on. */
static int
rb_acct(struct queue__db *d, int64_t mid, int64_t band, int64_t size, int sign)
{
	sqlite3_stmt *s = stmt(d, ST_PENDING_ROUTES);
	char **routes = NULL;
	size_t n = 0, cap = 0;
	int rc;

	sqlite3_bind_int64(s, 1, mid);
	/* Copy the routes out first: scans and writes stay apart. */
	while ((rc = step(s)) > 0) {
		if (n == cap) {
			cap = cap ? 2 * cap : 4;
			routes = xrealloc(routes, cap * sizeof(*routes));
		}
		routes[n++] = col_strdup(s, 0);
	}
	sqlite3_reset(s);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			sqlite3_stmt *u = stmt(d, ST_RB_ADD);
			bind_text(u, 1, routes[i]);
			sqlite3_bind_int64(u, 2, band);
			sqlite3_bind_int64(u, 3, sign);
			sqlite3_bind_int64(u, 4, sign * size);
			rc = run(u);
		}
		free(routes[i]);
	}
	free(routes);
	return rc;
}

/* Delete a message whose recipients are all final; remember its id. */
static int msg_drop(struct queue__db *d, int64_t mid);

static int
gc(struct queue__db *d, int64_t mid, const uint8_t id[QUEUE_ID_LEN],
    int64_t now)
{
	sqlite3_stmt *s = stmt(d, ST_RCPT_LIVE);
	int64_t live;
	int rc;

	sqlite3_bind_int64(s, 1, mid);
	rc = step(s);
	if (rc <= 0)
		return rc ? rc : GW_EINTERNAL;
	live = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (live > 0)
		return 0;
	if ((rc = msg_drop(d, mid)) != 0)
		return rc;
	s = stmt(d, ST_SEEN_INSERT);
	bind_id(s, 1, id);
	sqlite3_bind_int64(s, 2, now);
	if ((rc = run(s)) != 0)
		return rc;
	return event(d, now, id, 0, "done", -1, -1, NULL);
}

static int64_t
rcpt_deadline(const struct queue_envelope *e, const struct queue_rcpt *r)
{
	int64_t dl = QUEUE__NO_DEADLINE;

	if (e->by_deadline != 0)
		dl = e->by_deadline;
	if (r->arcpt && e->aby_deadline != 0 && e->aby_deadline < dl)
		dl = e->aby_deadline;
	return dl;
}

static int
rcpt_insert(struct queue__db *d, int64_t mid, int idx,
    const struct queue_rcpt *r, int state, int64_t band, int64_t deadline,
    int64_t size, int64_t parent)
{
	sqlite3_stmt *s = stmt(d, ST_RCPT_INSERT);

	sqlite3_bind_int64(s, 1, mid);
	sqlite3_bind_int(s, 2, idx);
	bind_text(s, 3, r->addr ? r->addr : "");
	sqlite3_bind_int(s, 4, (int)r->notify);
	bind_text(s, 5, r->orcpt);
	bind_text(s, 6, r->arcpt);
	sqlite3_bind_int(s, 7, (int)r->flags);
	bind_text(s, 8, r->route ? r->route : "");
	sqlite3_bind_int(s, 9, state);
	sqlite3_bind_int64(s, 10, band);
	sqlite3_bind_int64(s, 11, deadline);
	sqlite3_bind_int64(s, 12, size);
	sqlite3_bind_int64(s, 13, parent);
	return run(s);
}

static int
msg_insert(struct queue__db *d, const struct queue_envelope *e,
    int64_t size, int64_t total, const uint8_t *sha, int64_t now,
    int64_t *mid)
{
	sqlite3_stmt *s = stmt(d, ST_MSG_INSERT);
	int rc;

	bind_id(s, 1, e->id);
	bind_text(s, 2, e->reverse_path ? e->reverse_path : "");
	sqlite3_bind_int(s, 3, e->priority);
	sqlite3_bind_int(s, 4, e->band);
	sqlite3_bind_int64(s, 5, e->by_deadline);
	sqlite3_bind_int(s, 6, (unsigned char)e->by_mode);
	sqlite3_bind_int(s, 7, e->by_trace);
	sqlite3_bind_int64(s, 8, e->aby_deadline);
	bind_text(s, 9, e->envid);
	sqlite3_bind_int(s, 10, (int)e->ret);
	sqlite3_bind_int(s, 11, (int)e->body);
	sqlite3_bind_int64(s, 12, e->size_declared);
	sqlite3_bind_int64(s, 13, e->arrival ? e->arrival : now);
	bind_text(s, 14, e->client);
	sqlite3_bind_int(s, 15, e->conperm);
	sqlite3_bind_int64(s, 16, size);
	sqlite3_bind_int64(s, 17, total);
	if (sha)
		sqlite3_bind_blob(s, 18, sha, 32, SQLITE_STATIC);
	sqlite3_bind_int(s, 19, sha != NULL);
	sqlite3_bind_int64(s, 20, now);
	if ((rc = run(s)) != 0)
		return rc == GW_EEXIST ? GW_EDUP : rc;
	*mid = sqlite3_last_insert_rowid(d->db);
	return 0;
}

/* --- submit -------------------------------------------------------------- */

int
queue__db_known(struct queue__db *d, const uint8_t id[QUEUE_ID_LEN])
{
	sqlite3_stmt *s = stmt(d, ST_KNOWN);
	int rc, known = 0;

	bind_id(s, 1, id);
	while ((rc = step(s)) > 0)
		if (sqlite3_column_int(s, 0) != 0)
			known = 1;
	sqlite3_reset(s);
	if (rc < 0)
		return rc;
	return known ? GW_EDUP : 0;
}

int
queue__db_submit(struct queue__db *d, const struct queue_envelope *env,
    const uint8_t *content, size_t len, const uint8_t sha[32], int64_t now)
{
	int64_t mid;
	int rc;

	if ((rc = queue__db_known(d, env->id)) != 0)
		return rc;
	rc = msg_insert(d, env, (int64_t)len, (int64_t)len, sha, now, &mid);
	if (rc)
		return rc;
	if ((rc = content_append(d, mid, 0, content, len)) != 0)
		return rc;
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		rc = rcpt_insert(d, mid, (int)i, r, QUEUE_R_QUEUED, env->band,
		    rcpt_deadline(env, r), (int64_t)len, 0);
		if (rc)
			return rc;
	}
	if ((rc = rb_acct(d, mid, env->band, (int64_t)len, +1)) != 0)
		return rc;
	return event(d, now, env->id, 0, "queued", -1, QUEUE_R_QUEUED, NULL);
}

/* --- selection and airtime ----------------------------------------------- */

void
queue__work_free(struct queue_work *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free_const(w[i].addr);
		free_const(w[i].route);
		free_const(w[i].sender);
		free_const(w[i].last_error);
	}
	free(w);
}

/* Columns 0..8 shared by the selection and listing statements: rid,
 * message id, band, deadline, size, arrival, state, attempts, addr. Returns
 * the deadline as stored (QUEUE__NO_DEADLINE for none). */
static int64_t
work_from_row(sqlite3_stmt *s, struct queue_work *w)
{
	int64_t dl = sqlite3_column_int64(s, 3);

	w->rid = sqlite3_column_int64(s, 0);
	if (sqlite3_column_bytes(s, 1) == QUEUE_ID_LEN)
		memcpy(w->id, sqlite3_column_blob(s, 1), QUEUE_ID_LEN);
	w->band = sqlite3_column_int(s, 2);
	w->deadline = dl == QUEUE__NO_DEADLINE ? 0 : dl;
	w->size = sqlite3_column_int64(s, 4);
	w->arrival = sqlite3_column_int64(s, 5);
	w->state = (enum queue_rstate)sqlite3_column_int(s, 6);
	w->attempts = sqlite3_column_int(s, 7);
	w->addr = col_strdup(s, 8);
	return dl;
}

int
queue__db_list(struct queue__db *d, const char *route, int band,
    unsigned states, size_t max, struct queue_work **out, size_t *n)
{
	/* The DSN sweep's question has an index of its own (schema v2). */
	bool failed = states == (1u << QUEUE_R_FAILED) && route == NULL &&
	    band < 0;
	sqlite3_stmt *s = stmt(d, failed ? ST_LIST_FAILED : ST_LIST);
	struct queue_work *w = xcalloc(max ? max : 1, sizeof(*w));
	size_t cnt = 0;
	int rc = 0;

	sqlite3_bind_int64(s, 1, (int64_t)max);
	if (!failed) {
		if (route != NULL)
			bind_text(s, 2, route);
		else
			sqlite3_bind_null(s, 2);
		sqlite3_bind_int(s, 3, band);
		sqlite3_bind_int64(s, 4, states ? states :
		    QUEUE_LIST_WAITING);
	}
	while (cnt < max && (rc = step(s)) > 0) {
		struct queue_work *x = &w[cnt++];
		work_from_row(s, x);
		x->route = col_strdup(s, 9);
		x->next_attempt = sqlite3_column_int64(s, 10);
		if (!failed) {
			x->sender = col_strdup(s, 11);
			x->priority = sqlite3_column_int(s, 12);
			x->last_error = col_strdup(s, 13);
		}
	}
	sqlite3_reset(s);
	if (rc < 0) {
		queue__work_free(w, cnt);
		return rc;
	}
	*out = w;
	*n = cnt;
	return 0;
}

/* One candidate of a selection, with the keys it is ordered by. */
struct cand {
	struct queue_work w;
	int64_t mid, dl;
};

static int
fetch_cands(struct queue__db *d, enum stmt_id which, const char *route,
    int64_t now, size_t max, struct cand *c, size_t *n)
{
	sqlite3_stmt *s = stmt(d, which);
	int rc = 0;

	*n = 0;
	bind_text(s, 1, route);
	sqlite3_bind_int64(s, 2, (int64_t)max);
	if (which == ST_SELECT_RETRY)
		sqlite3_bind_int64(s, 3, now);
	while (*n < max && (rc = step(s)) > 0) {
		struct cand *x = &c[(*n)++];
		x->dl = work_from_row(s, &x->w);
		x->mid = sqlite3_column_int64(s, 9);
	}
	sqlite3_reset(s);
	return rc < 0 ? rc : 0;
}

/* Selection order: band descending, deadline, arrival (mid), rid. */
static bool
cand_before(const struct cand *a, const struct cand *b)
{
	if (a->w.band != b->w.band)
		return a->w.band > b->w.band;
	if (a->dl != b->dl)
		return a->dl < b->dl;
	if (a->mid != b->mid)
		return a->mid < b->mid;
	return a->w.rid < b->w.rid;
}

/*
 * Queued recipients come in selection order from their own partial index
 * (rcpt_ready); deferred ones that are due from theirs (rcpt_retry, by due
 * time, then sorted). Neither scan passes over recipients that cannot be
 * taken (in flight, held, deferred and not yet due), however many there
 * are. The two ordered lists are merged.
 */
int
queue__db_select(struct queue__db *d, const char *route, int64_t now,
    size_t max, struct queue_work **out, size_t *n)
{
	struct cand *a = xcalloc(max ? max : 1, sizeof(*a));
	struct cand *b = xcalloc(max ? max : 1, sizeof(*b));
	struct queue_work *w = xcalloc(max ? max : 1, sizeof(*w));
	size_t na = 0, nb = 0, i = 0, j = 0, cnt = 0;
	int rc;

	route = route ? route : "";
	rc = fetch_cands(d, ST_SELECT_READY, route, now, max, a, &na);
	if (rc == 0)
		rc = fetch_cands(d, ST_SELECT_RETRY, route, now, max, b, &nb);
	while (rc == 0 && cnt < max && (i < na || j < nb)) {
		if (j >= nb || (i < na && cand_before(&a[i], &b[j])))
			w[cnt++] = a[i++].w;
		else
			w[cnt++] = b[j++].w;
	}
	/* candidates not taken still own their address strings */
	for (; i < na; i++)
		free_const(a[i].w.addr);
	for (; j < nb; j++)
		free_const(b[j].w.addr);
	free(a);
	free(b);
	if (rc) {
		queue__work_free(w, cnt);
		return rc;
	}
	*out = w;
	*n = cnt;
	return 0;
}

static int
scalar(sqlite3_stmt *s, int64_t *v, bool *isnull)
{
	int rc = step(s);

	if (rc <= 0)
		return rc ? rc : GW_EINTERNAL;
	if (isnull)
		*isnull = sqlite3_column_type(s, 0) == SQLITE_NULL;
	*v = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 0;
}

/* Messages (count, bytes) of one band of route on one side of the
 * position (dl, mid), at most cap rows (-1: no cap). */
static int
band_side(struct queue__db *d, enum stmt_id which, const char *route,
    int64_t band, int64_t dl, int64_t mid, int64_t cap, int64_t *count,
    int64_t *bytes)
{
	sqlite3_stmt *s = stmt(d, which);
	int rc;

	bind_text(s, 1, route);
	sqlite3_bind_int64(s, 2, band);
	sqlite3_bind_int64(s, 3, dl);
	sqlite3_bind_int64(s, 4, mid);
	sqlite3_bind_int64(s, 5, cap);
	rc = step(s);
	if (rc <= 0)
		return rc ? rc : GW_EINTERNAL;
	*count = sqlite3_column_int64(s, 0);
	*bytes = sqlite3_column_int64(s, 1);
	sqlite3_reset(s);
	return 0;
}

/* Rows scanned on one side before trying the other side. */
#define AHEAD_SCAN_CAP 2000

/*
 * Bytes ahead = bytes of the higher bands (route_band, O(bands)) + the
 * messages of the same band before this one. The latter is a scan of the
 * scheduling index on one side of the message, at most AHEAD_SCAN_CAP
 * messages: ahead of it for deadline traffic (which sorts first), behind
 * it for traffic without deadline (a recent arrival is near the end; the
 * bytes behind are subtracted from the band's total); the other side if
 * the first is long. Only a message deep inside a huge band pays a scan
 * of everything ahead of it.
 * Exact, except that a message whose recipients on the route have
 * different deadlines is placed at its earliest.
 */
int
queue__db_bytes_ahead(struct queue__db *d, const char *route,
    const uint8_t id[QUEUE_ID_LEN], int64_t *bytes)
{
	struct msg_row m;
	sqlite3_stmt *s;
	int64_t dl, above, n, same, band_total;
	bool isnull;
	int rc;

	route = route ? route : "";
	if ((rc = msg_get(d, id, &m)) != 0)
		return rc;
	if (!m.complete)
		return GW_ENOENT;
	s = stmt(d, ST_MY_DEADLINE);
	sqlite3_bind_int64(s, 1, m.mid);
	bind_text(s, 2, route);
	if ((rc = scalar(s, &dl, &isnull)) != 0)
		return rc;
	if (isnull)
		return GW_ENOENT;
	s = stmt(d, ST_RB_ABOVE);
	bind_text(s, 1, route);
	sqlite3_bind_int64(s, 2, m.band);
	if ((rc = scalar(s, &above, NULL)) != 0)
		return rc;
	/* Deadline traffic sorts first, so few are ahead of it; a message
	 * without deadline is placed by arrival, and usually asked about
	 * soon after it arrived, so few are behind it. Scan that side first,
	 * the other if the first is long, everything only if both are. */
	enum stmt_id first = dl == QUEUE__NO_DEADLINE ? ST_SAME_BAND_BEHIND :
	    ST_SAME_BAND_AHEAD;
	enum stmt_id second = first == ST_SAME_BAND_AHEAD ?
	    ST_SAME_BAND_BEHIND : ST_SAME_BAND_AHEAD;
	s = stmt(d, ST_RB_BAND);
	bind_text(s, 1, route);
	sqlite3_bind_int64(s, 2, m.band);
	if ((rc = scalar(s, &band_total, NULL)) != 0)
		return rc;
	rc = band_side(d, first, route, m.band, dl, m.mid, AHEAD_SCAN_CAP, &n,
	    &same);
	if (rc == 0 && n >= AHEAD_SCAN_CAP) {
		rc = band_side(d, second, route, m.band, dl, m.mid,
		    AHEAD_SCAN_CAP, &n, &same);
		if (rc == 0 && n >= AHEAD_SCAN_CAP)
			rc = band_side(d, ST_SAME_BAND_AHEAD, route, m.band,
			    dl, m.mid, -1, &n, &same);
		else if (second == ST_SAME_BAND_BEHIND)
			same = band_total - m.size - same;
	} else if (first == ST_SAME_BAND_BEHIND) {
		same = band_total - m.size - same;
	}
	if (rc)
		return rc;
	*bytes = above + same;
	return 0;
}

/* --- transitions --------------------------------------------------------- */

struct rcpt_row {
	int64_t mid, band, size, by_deadline, next_attempt;
	int state;
	unsigned notify, flags;
	char *route, *arcpt, *orcpt, *last_error, *last_status;
	uint8_t id[QUEUE_ID_LEN];
	bool complete;
};

static void
rcpt_row_fini(struct rcpt_row *r)
{
	free(r->route);
	free(r->arcpt);
	free(r->orcpt);
	free(r->last_error);
	free(r->last_status);
}

static int
rcpt_get(struct queue__db *d, int64_t rid, struct rcpt_row *r)
{
	sqlite3_stmt *s = stmt(d, ST_RCPT_GET);
	int rc;

	memset(r, 0, sizeof(*r));
	sqlite3_bind_int64(s, 1, rid);
	rc = step(s);
	if (rc <= 0)
		return rc ? rc : GW_ENOENT;
	r->mid = sqlite3_column_int64(s, 0);
	r->state = sqlite3_column_int(s, 1);
	r->route = col_strdup(s, 2);
	r->arcpt = col_strdup(s, 3);
	r->notify = (unsigned)sqlite3_column_int(s, 4);
	r->orcpt = col_strdup(s, 5);
	r->flags = (unsigned)sqlite3_column_int(s, 6);
	r->next_attempt = sqlite3_column_int64(s, 7);
	r->last_error = col_strdup(s, 8);
	r->last_status = col_strdup(s, 9);
	r->band = sqlite3_column_int64(s, 10);
	r->size = sqlite3_column_int64(s, 11);
	r->by_deadline = sqlite3_column_int64(s, 12);
	if (sqlite3_column_bytes(s, 13) == QUEUE_ID_LEN)
		memcpy(r->id, sqlite3_column_blob(s, 13), QUEUE_ID_LEN);
	r->complete = sqlite3_column_int(s, 14) != 0;
	sqlite3_reset(s);
	return 0;
}

/* "rfc822;xtext" -> decoded address (RFC 3461 xtext: "+" and two hex
 * digits stand for one byte). NULL when malformed. */
static char *
arcpt_addr(const char *arcpt)
{
	const char *p = arcpt ? strchr(arcpt, ';') : NULL;
	char *out, *o;

	if (p == NULL || p[1] == '\0')
		return NULL;
	out = o = xmalloc(strlen(p));
	for (p++; *p; p++) {
		if (*p == '+') {
			unsigned v;
			if (sscanf(p + 1, "%2x", &v) != 1 || !p[1] || !p[2]) {
				free(out);
				return NULL;
			}
			*o++ = (char)v;
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* Redirect: a new queued recipient for the alternate of rid. */
static int
redirect_add(struct queue__db *d, int64_t rid, const struct rcpt_row *r,
    const char *route, int64_t now, int64_t *new_rid)
{
	struct queue_rcpt alt = { 0 };
	sqlite3_stmt *s = stmt(d, ST_RCPT_MAXIDX);
	char *alt_route;
	int64_t maxidx;
	int rc;

	sqlite3_bind_int64(s, 1, r->mid);
	if ((rc = scalar(s, &maxidx, NULL)) != 0)
		return rc;
	alt_route = xstrdup(route ? route : "");
	alt.addr = arcpt_addr(r->arcpt);
	if (alt.addr == NULL) {
		free(alt_route);
		return GW_EINVAL;
	}
	alt.notify = r->notify;
	alt.orcpt = r->orcpt;
	alt.flags = r->flags;
	alt.route = alt_route;
	rc = rcpt_insert(d, r->mid, (int)maxidx + 1, &alt, QUEUE_R_QUEUED,
	    r->band, r->by_deadline ? r->by_deadline : QUEUE__NO_DEADLINE,
	    r->size, rid);
	free(alt.addr);
	free(alt_route);
	if (rc)
		return rc;
	*new_rid = sqlite3_last_insert_rowid(d->db);
	return event(d, now, r->id, *new_rid, "redirect", -1, QUEUE_R_QUEUED,
	    r->arcpt);
}

/* One checked transition, with accounting, event and garbage collection. */
static int
transition(struct queue__db *d, int64_t rid, const struct queue_change *ch,
    int64_t now)
{
	struct rcpt_row r;
	sqlite3_stmt *s;
	int64_t next, attempts = 0, new_rid = 0;
	const char *err, *status, *route;
	int rc;

	if ((rc = rcpt_get(d, rid, &r)) != 0)
		return rc;
	if (!r.complete || !queue_rcpt_may((enum queue_rstate)r.state, ch->to)) {
		char hex[33];
		queue_id_hex(r.id, hex);
		GW_LOGW(SUB, "msg=%s rid=%lld event=transition_refused"
		    " from=%s to=%s", hex, (long long)rid,
		    queue_rstate_name(r.state), queue_rstate_name(ch->to));
		rc = GW_ESTATE;
		goto out;
	}
	if (ch->to == QUEUE_R_REDIRECTED) {
		char *alt = arcpt_addr(r.arcpt);
		free(alt);
		if (alt == NULL) {
			rc = GW_EINVAL;
			goto out;
		}
	}
	next = r.next_attempt;
	err = r.last_error;
	status = r.last_status;
	route = r.route;
	switch (ch->to) {
	case QUEUE_R_INFLIGHT:
		attempts = 1;
		break;
	case QUEUE_R_DEFERRED:
	case QUEUE_R_FAILED:
		next = ch->to == QUEUE_R_DEFERRED ? ch->next_attempt : 0;
		err = ch->error;
		status = ch->status;
		break;
	case QUEUE_R_RELAYED:
	case QUEUE_R_DELIVERED:
		if (ch->status)
			status = ch->status;
		break;
	case QUEUE_R_REDIRECTED:
		err = ch->error;
		break;
	case QUEUE_R_QUEUED:
		next = 0;
		if (ch->route)
			route = ch->route;
		break;
	default:
		break;
	}
	if ((rc = rb_acct(d, r.mid, r.band, r.size, -1)) != 0)
		goto out;
	s = stmt(d, ST_RCPT_SET);
	sqlite3_bind_int64(s, 1, rid);
	sqlite3_bind_int(s, 2, (int)ch->to);
	sqlite3_bind_int64(s, 3, attempts);
	sqlite3_bind_int64(s, 4, next);
	bind_text(s, 5, err);
	bind_text(s, 6, status);
	bind_text(s, 7, route);
	if ((rc = run(s)) != 0)
		goto out;
	if (ch->to == QUEUE_R_REDIRECTED &&
	    (rc = redirect_add(d, rid, &r, ch->route, now, &new_rid)) != 0)
		goto out;
	if ((rc = rb_acct(d, r.mid, r.band, r.size, +1)) != 0)
		goto out;
	if (gw_log_debug_enabled(SUB)) {
		char hex[33];
		queue_id_hex(r.id, hex);
		GW_LOGD(SUB, "msg=%s rid=%lld event=state from=%s to=%s", hex,
		    (long long)rid, queue_rstate_name(r.state),
		    queue_rstate_name(ch->to));
	}
	rc = event(d, now, r.id, rid, "state", r.state, ch->to,
	    ch->to == QUEUE_R_QUEUED && ch->route ? ch->route :
	    ch->error ? ch->error : ch->status);
	if (rc == 0)
		rc = gc(d, r.mid, r.id, now);
out:
	rcpt_row_fini(&r);
	return rc;
}

int
queue__db_update(struct queue__db *d, const struct queue_change *ch,
    size_t n, int64_t now)
{
	for (size_t i = 0; i < n; i++) {
		int rc = transition(d, ch[i].rid, &ch[i], now);
		if (rc)
			return rc;
	}
	return 0;
}

int
queue__db_msg_op(struct queue__db *d, const uint8_t id[QUEUE_ID_LEN],
    enum queue__msg_op op, const char *arg, int64_t now, int64_t *count)
{
	struct msg_row m;
	struct queue_change ch = { 0 };
	sqlite3_stmt *s;
	int64_t *rids = NULL;
	int *states = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*count = 0;
	if ((rc = msg_get(d, id, &m)) != 0)
		return rc;
	if (!m.complete)
		return GW_ENOENT;
	s = stmt(d, ST_RCPT_OF_MSG);
	sqlite3_bind_int64(s, 1, m.mid);
	while ((rc = step(s)) > 0) {
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			rids = xrealloc(rids, cap * sizeof(*rids));
			states = xrealloc(states, cap * sizeof(*states));
		}
		rids[n] = sqlite3_column_int64(s, 0);
		states[n++] = sqlite3_column_int(s, 1);
	}
	sqlite3_reset(s);
	if (rc < 0)
		goto out;
	switch (op) {
	case QUEUE__OP_HOLD:
		ch.to = QUEUE_R_HELD;
		ch.error = arg;
		break;
	case QUEUE__OP_RELEASE:
		ch.to = QUEUE_R_QUEUED;
		break;
	case QUEUE__OP_CANCEL:
		ch.to = QUEUE_R_FAILED;
		ch.error = arg ? arg : "canceled by operator";
		ch.status = "5.0.0";
		break;
	case QUEUE__OP_REQUEUE:
		ch.to = QUEUE_R_QUEUED;
		ch.route = arg ? arg : "";
		break;
	}
	for (size_t i = 0; i < n; i++) {
		enum queue_rstate from = (enum queue_rstate)states[i];
		if (!queue_rcpt_may(from, ch.to))
			continue;
		/* Operators move waiting recipients only: release applies to
		 * held ones, the rest never touch work in flight. */
		if (from == QUEUE_R_INFLIGHT)
			continue;
		if (op == QUEUE__OP_RELEASE && from != QUEUE_R_HELD)
			continue;
		if ((rc = transition(d, rids[i], &ch, now)) != 0)
			goto out;
		(*count)++;
	}
	rc = *count ? 0 : GW_ESTATE;
out:
	free(rids);
	free(states);
	return rc;
}

/* --- loading and reading ------------------------------------------------- */

void
queue__msg_info_free(struct queue_msg_info *m)
{
	if (m == NULL)
		return;
	struct queue_envelope *e = &m->env;
	free(e->reverse_path);
	free(e->envid);
	free(e->client);
	for (size_t i = 0; i < e->nrcpts; i++) {
		free(e->rcpts[i].addr);
		free(e->rcpts[i].orcpt);
		free(e->rcpts[i].arcpt);
		free(e->rcpts[i].route);
		free_const(m->st[i].last_error);
		free_const(m->st[i].last_status);
	}
	free(e->rcpts);
	free_const(m->st);
	free(m);
}

int
queue__db_load(struct queue__db *d, const uint8_t id[QUEUE_ID_LEN],
    struct queue_msg_info **out)
{
	sqlite3_stmt *s = stmt(d, ST_MSG_LOAD);
	struct queue_msg_info *m;
	struct queue_envelope *e;
	struct queue_rcpt_status *st = NULL;
	size_t cap = 0;
	int64_t mid;
	int rc;

	bind_id(s, 1, id);
	rc = step(s);
	if (rc <= 0)
		return rc ? rc : GW_ENOENT;
	m = xcalloc(1, sizeof(*m));
	e = &m->env;
	memcpy(e->id, id, QUEUE_ID_LEN);
	e->reverse_path = col_strdup(s, 0);
	e->priority = sqlite3_column_int(s, 1);
	e->band = sqlite3_column_int(s, 2);
	e->by_deadline = sqlite3_column_int64(s, 3);
	e->by_mode = (char)sqlite3_column_int(s, 4);
	e->by_trace = sqlite3_column_int(s, 5) != 0;
	e->aby_deadline = sqlite3_column_int64(s, 6);
	e->envid = col_strdup(s, 7);
	e->ret = (enum queue_ret)sqlite3_column_int(s, 8);
	e->body = (enum queue_body)sqlite3_column_int(s, 9);
	e->size_declared = sqlite3_column_int64(s, 10);
	e->arrival = sqlite3_column_int64(s, 11);
	e->client = col_strdup(s, 12);
	e->conperm = sqlite3_column_int(s, 13) != 0;
	m->size = sqlite3_column_int64(s, 14);
	m->total = sqlite3_column_int64(s, 15);
	if (sqlite3_column_bytes(s, 16) == 32)
		memcpy(m->sha256, sqlite3_column_blob(s, 16), 32);
	m->complete = sqlite3_column_int(s, 17) != 0;
	mid = sqlite3_column_int64(s, 18);
	sqlite3_reset(s);

	s = stmt(d, ST_RCPT_LOAD);
	sqlite3_bind_int64(s, 1, mid);
	while ((rc = step(s)) > 0) {
		struct queue_rcpt *r;
		struct queue_rcpt_status *t;
		int64_t dl;
		if (e->nrcpts == cap) {
			cap = cap ? cap * 2 : 4;
			e->rcpts = xrealloc(e->rcpts, cap * sizeof(*e->rcpts));
			st = xrealloc(st, cap * sizeof(*st));
		}
		r = &e->rcpts[e->nrcpts];
		t = &st[e->nrcpts++];
		t->rid = sqlite3_column_int64(s, 0);
		r->addr = col_strdup(s, 1);
		r->notify = (unsigned)sqlite3_column_int(s, 2);
		r->orcpt = col_strdup(s, 3);
		r->arcpt = col_strdup(s, 4);
		r->flags = (unsigned)sqlite3_column_int(s, 5);
		r->route = col_strdup(s, 6);
		t->state = (enum queue_rstate)sqlite3_column_int(s, 7);
		t->attempts = sqlite3_column_int(s, 8);
		t->next_attempt = sqlite3_column_int64(s, 9);
		dl = sqlite3_column_int64(s, 10);
		t->deadline = dl == QUEUE__NO_DEADLINE ? 0 : dl;
		t->last_error = col_strdup(s, 11);
		t->last_status = col_strdup(s, 12);
		t->parent_rid = sqlite3_column_int64(s, 13);
	}
	m->st = st;
	sqlite3_reset(s);
	if (rc < 0) {
		queue__msg_info_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

/* Append n bytes at in_row of row id of table (chunk or tail) to out,
 * through the handle *blob of that table (opened on first use). */
static int
blob_copy(struct queue__db *d, sqlite3_blob **blob, const char *table,
    int64_t id, int64_t in_row, size_t n, struct buf *out)
{
	int rc;

	if (*blob == NULL)
		rc = sqlite3_blob_open(d->db, "main", table, "data", id, 0,
		    blob);
	else
		rc = sqlite3_blob_reopen(*blob, id);
	if (rc != SQLITE_OK)
		return rc == SQLITE_ERROR ? GW_ECORRUPT : queue__db_err(rc);
	if (in_row + (int64_t)n > sqlite3_blob_bytes(*blob))
		return GW_ECORRUPT;
	buf_reserve(out, n);
	rc = sqlite3_blob_read(*blob, out->data + out->len, (int)n,
	    (int)in_row);
	if (rc != SQLITE_OK)
		return queue__db_err(rc);
	out->len += n;
	out->data[out->len] = '\0';
	return 0;
}

int
queue__db_read(struct queue__db *d, const uint8_t id[QUEUE_ID_LEN],
    int64_t offset, size_t maxlen, struct buf *out, int64_t *total)
{
	struct msg_row m;
	sqlite3_blob *cb = NULL, *tb = NULL;
	int64_t pos = offset, end, full;
	int rc;

	if ((rc = msg_get(d, id, &m)) != 0)
		return rc;
	*total = m.complete ? m.size : m.total;
	if (offset < 0)
		return GW_EINVAL;
	end = offset + (int64_t)maxlen;
	if (end > m.size)
		end = m.size;
	full = m.size / QUEUE_CHUNK_BYTES * QUEUE_CHUNK_BYTES;
	while (rc == 0 && pos < end) {
		int64_t k = pos / QUEUE_CHUNK_BYTES;
		int64_t in_row = pos % QUEUE_CHUNK_BYTES;
		int64_t n = QUEUE_CHUNK_BYTES - in_row;
		if (n > end - pos)
			n = end - pos;
		if (pos < full)
			rc = blob_copy(d, &cb, "chunk", chunk_id(m.mid, k),
			    in_row, (size_t)n, out);
		else
			rc = blob_copy(d, &tb, "tail", m.mid, in_row,
			    (size_t)n, out);
		pos += n;
	}
	if (cb)
		sqlite3_blob_close(cb);
	if (tb)
		sqlite3_blob_close(tb);
	return rc;
}

static int
hash_mid(struct queue__db *d, int64_t mid, int64_t expect_len,
    uint8_t sha[32])
{
	crypto_hash_sha256_state h;
	sqlite3_stmt *s = stmt(d, ST_CHUNK_RANGE);
	int64_t len = 0;
	int rc;

	crypto_hash_sha256_init(&h);
	sqlite3_bind_int64(s, 1, chunk_id(mid, 0));
	sqlite3_bind_int64(s, 2, chunk_id(mid, MAX_CHUNKS - 1));
	while ((rc = step(s)) > 0) {
		const void *p = sqlite3_column_blob(s, 0);
		int n = sqlite3_column_bytes(s, 0);
		crypto_hash_sha256_update(&h, p, (unsigned long long)n);
		len += n;
	}
	sqlite3_reset(s);
	if (rc < 0)
		return rc;
	s = stmt(d, ST_TAIL_GET);
	sqlite3_bind_int64(s, 1, mid);
	rc = step(s);
	if (rc > 0) {
		const void *p = sqlite3_column_blob(s, 0);
		int n = sqlite3_column_bytes(s, 0);
		crypto_hash_sha256_update(&h, p, (unsigned long long)n);
		len += n;
	}
	sqlite3_reset(s);
	if (rc < 0)
		return rc;
	crypto_hash_sha256_final(&h, sha);
	return len == expect_len ? 0 : GW_ECORRUPT;
}

int
queue__db_hash(struct queue__db *d, const uint8_t id[QUEUE_ID_LEN],
    uint8_t sha[32])
{
	struct msg_row m;
	int rc;

	if ((rc = msg_get(d, id, &m)) != 0)
		return rc;
	return hash_mid(d, m.mid, m.size, sha);
}

/* --- partial incoming transfers ------------------------------------------ */

int
queue__db_partial_begin(struct queue__db *d,
    const struct queue_envelope *env, int64_t total, int64_t now,
    int64_t *offset)
{
	struct msg_row m;
	int64_t mid;
	int rc;

	rc = msg_get(d, env->id, &m);
	if (rc == 0) {
		if (m.complete)
			return GW_EDUP;
		*offset = m.size;
		return 0;
	}
	if (rc != GW_ENOENT)
		return rc;
	if ((rc = queue__db_known(d, env->id)) != 0)
		return rc;
	if ((rc = msg_insert(d, env, 0, total, NULL, now, &mid)) != 0)
		return rc;
	if ((rc = tail_set(d, mid, NULL, 0)) != 0)
		return rc;
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		rc = rcpt_insert(d, mid, (int)i, r, QUEUE_R_INCOMING,
		    env->band, rcpt_deadline(env, r), total, 0);
		if (rc)
			return rc;
	}
	*offset = 0;
	return event(d, now, env->id, 0, "partial", -1, QUEUE_R_INCOMING,
	    env->client);
}

int
queue__db_partial_append(struct queue__db *d,
    const uint8_t id[QUEUE_ID_LEN], int64_t offset, const uint8_t *data,
    size_t len, int64_t now, int64_t *newoff)
{
	struct msg_row m;
	sqlite3_stmt *s;
	int rc;

	(void)now;
	if ((rc = msg_get(d, id, &m)) != 0)
		return rc;
	if (m.complete)
		return GW_EDUP;
	*newoff = m.size;
	if (offset != m.size)
		return GW_ESTATE;
	if (m.size + (int64_t)len > m.total)
		return GW_ETOOBIG;
	if (len == 0)
		return 0;
	if ((rc = content_append(d, m.mid, m.size, data, len)) != 0)
		return rc;
	s = stmt(d, ST_MSG_SET_SIZE);
	sqlite3_bind_int64(s, 1, m.mid);
	sqlite3_bind_int64(s, 2, m.size + (int64_t)len);
	if ((rc = run(s)) != 0)
		return rc;
	*newoff = m.size + (int64_t)len;
	return 0;
}

int
queue__db_partial_offset(struct queue__db *d,
    const uint8_t id[QUEUE_ID_LEN], int64_t *offset)
{
	struct msg_row m;
	int rc;

	if ((rc = msg_get(d, id, &m)) != 0)
		return rc;
	if (m.complete)
		return GW_EDUP;
	*offset = m.size;
	return 0;
}

static int
msg_drop(struct queue__db *d, int64_t mid)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = content_delete(d, mid)) != 0)
		return rc;
	s = stmt(d, ST_RCPT_DELETE);
	sqlite3_bind_int64(s, 1, mid);
	if ((rc = run(s)) != 0)
		return rc;
	s = stmt(d, ST_MSG_DELETE);
	sqlite3_bind_int64(s, 1, mid);
	return run(s);
}

int
queue__db_partial_finish(struct queue__db *d,
    const uint8_t id[QUEUE_ID_LEN], const uint8_t sha[32], int64_t now,
    int *verdict)
{
	struct msg_row m;
	uint8_t got[32];
	sqlite3_stmt *s;
	int rc;

	*verdict = 0;
	if ((rc = msg_get(d, id, &m)) != 0)
		return rc;
	if (m.complete)
		return GW_EDUP;
	if (m.size != m.total)
		return GW_ESTATE;
	rc = hash_mid(d, m.mid, m.size, got);
	if (rc && rc != GW_ECORRUPT)
		return rc;
	if (rc == GW_ECORRUPT || sodium_memcmp(got, sha, 32) != 0) {
		*verdict = GW_ECORRUPT;
		if ((rc = msg_drop(d, m.mid)) != 0)
			return rc;
		return event(d, now, id, 0, "partial_dropped", -1, -1,
		    "SHA-256 mismatch");
	}
	s = stmt(d, ST_MSG_COMPLETE);
	sqlite3_bind_int64(s, 1, m.mid);
	sqlite3_bind_blob(s, 2, got, 32, SQLITE_STATIC);
	if ((rc = run(s)) != 0)
		return rc;
	s = stmt(d, ST_RCPT_FINISH);
	sqlite3_bind_int64(s, 1, m.mid);
	if ((rc = run(s)) != 0)
		return rc;
	if ((rc = rb_acct(d, m.mid, m.band, m.size, +1)) != 0)
		return rc;
	return event(d, now, id, 0, "queued", QUEUE_R_INCOMING,
	    QUEUE_R_QUEUED, "transfer complete");
}

int
queue__db_partial_abort(struct queue__db *d,
    const uint8_t id[QUEUE_ID_LEN], int64_t now)
{
	struct msg_row m;
	int rc;

	if ((rc = msg_get(d, id, &m)) != 0)
		return rc;
	if (m.complete)
		return GW_ESTATE;
	if ((rc = msg_drop(d, m.mid)) != 0)
		return rc;
	return event(d, now, id, 0, "partial_dropped", -1, -1, "aborted");
}

/* --- events, stats, iteration -------------------------------------------- */

void
queue__events_free(struct queue_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free_const(ev[i].kind);
		free_const(ev[i].reason);
	}
	free(ev);
}

int
queue__db_events(struct queue__db *d, int64_t after, size_t max,
    struct queue_event **out, size_t *n)
{
	sqlite3_stmt *s = stmt(d, ST_EVENT_LIST);
	struct queue_event *ev = max ? xcalloc(max, sizeof(*ev)) : NULL;
	size_t cnt = 0;
	int rc = 0;

	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, (int64_t)max);
	while (cnt < max && (rc = step(s)) > 0) {
		struct queue_event *x = &ev[cnt++];
		x->eid = sqlite3_column_int64(s, 0);
		x->time = sqlite3_column_int64(s, 1);
		if (sqlite3_column_bytes(s, 2) == QUEUE_ID_LEN)
			memcpy(x->id, sqlite3_column_blob(s, 2), QUEUE_ID_LEN);
		x->rid = sqlite3_column_int64(s, 3);
		x->kind = col_strdup(s, 4);
		x->old_state = sqlite3_column_int(s, 5);
		x->new_state = sqlite3_column_int(s, 6);
		x->reason = col_strdup(s, 7);
	}
	sqlite3_reset(s);
	if (rc < 0) {
		queue__events_free(ev, cnt);
		return rc;
	}
	*out = ev;
	*n = cnt;
	return 0;
}

int
queue__db_stats(struct queue__db *d, struct queue_stats *st)
{
	sqlite3_stmt *s;
	int64_t pages = 0, psize = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	/* single passes without GROUP BY: no sorter, no extra memory */
	s = stmt(d, ST_STAT_MSGS);
	if ((rc = step(s)) <= 0)
		return rc ? rc : GW_EINTERNAL;
	st->messages = sqlite3_column_int64(s, 0);
	st->partials = sqlite3_column_int64(s, 1);
	st->content_bytes = sqlite3_column_int64(s, 2);
	sqlite3_reset(s);
	s = stmt(d, ST_STAT_RCPTS);
	if ((rc = step(s)) <= 0)
		return rc ? rc : GW_EINTERNAL;
	for (int i = 0; i < QUEUE_R__COUNT; i++)
		st->rcpts[i] = sqlite3_column_int64(s, i);
	sqlite3_reset(s);
	if ((rc = pragma_int(d, "PRAGMA page_count", &pages)) != 0 ||
	    (rc = pragma_int(d, "PRAGMA page_size", &psize)) != 0)
		return rc;
	st->db_bytes = pages * psize;
	return 0;
}

int
queue__db_held(struct queue__db *d, size_t max, struct queue_held **out,
    size_t *n)
{
	sqlite3_stmt *s = stmt(d, ST_ANY_HELD);
	struct queue_held *h = xcalloc(max ? max : 1, sizeof(*h));
	size_t cnt = 0;
	int rc;

	/* Usually nothing is held: then the event log is not read at all. */
	rc = step(s);
	sqlite3_reset(s);
	if (rc < 0) {
		free(h);
		return rc;
	}
	if (rc == 0) {
		*out = h;
		*n = 0;
		return 0;
	}
	s = stmt(d, ST_HELD_LIST);
	sqlite3_bind_int64(s, 1, (int64_t)max);
	while (cnt < max && (rc = step(s)) > 0) {
		if (sqlite3_column_bytes(s, 0) != QUEUE_ID_LEN)
			continue;
		memcpy(h[cnt].id, sqlite3_column_blob(s, 0), QUEUE_ID_LEN);
		h[cnt].since = sqlite3_column_int64(s, 1);
		if (sqlite3_column_type(s, 2) == SQLITE_TEXT)
			snprintf(h[cnt].reason, sizeof(h[cnt].reason), "%s",
			    (const char *)sqlite3_column_text(s, 2));
		cnt++;
	}
	sqlite3_reset(s);
	if (rc < 0) {
		free(h);
		return rc;
	}
	*out = h;
	*n = cnt;
	return 0;
}

int
queue__db_foreach(struct queue__db *d, queue__id_fn fn, void *arg)
{
	int64_t last = 0;

	for (;;) {
		uint8_t ids[256][QUEUE_ID_LEN];
		size_t n = 0;
		sqlite3_stmt *s = stmt(d, ST_FOREACH);
		int rc;

		sqlite3_bind_int64(s, 1, last);
		while ((rc = step(s)) > 0) {
			last = sqlite3_column_int64(s, 0);
			if (sqlite3_column_bytes(s, 1) != QUEUE_ID_LEN)
				continue;
			memcpy(ids[n++], sqlite3_column_blob(s, 1),
			    QUEUE_ID_LEN);
		}
		sqlite3_reset(s);
		if (rc < 0)
			return rc;
		if (n == 0)
			return 0;
		/* The scan is finished before fn runs, so fn may use d. */
		for (size_t i = 0; i < n; i++)
			if ((rc = fn(ids[i], arg)) != 0)
				return rc;
	}
}

/* --- audit (the debug checker of the stored invariants) ------------------ */

static const struct {
	const char *what;
	const char *sql; /* counts violations */
} audits[] = {
	{ "route_band differs from the recipients (missing or wrong)",
	    "SELECT count(*) FROM (SELECT route, band, count(*), sum(size)"
	    " FROM (SELECT DISTINCT mid, route, band, size FROM rcpt"
	    " WHERE state IN " PENDING_SQL ") GROUP BY route, band"
	    " EXCEPT SELECT route, band, msgs, bytes FROM route_band"
	    " WHERE msgs <> 0)" },
	{ "route_band differs from the recipients (extra)",
	    "SELECT count(*) FROM (SELECT route, band, msgs, bytes"
	    " FROM route_band WHERE msgs <> 0 EXCEPT SELECT route, band,"
	    " count(*), sum(size) FROM (SELECT DISTINCT mid, route, band, size"
	    " FROM rcpt WHERE state IN " PENDING_SQL ") GROUP BY route, band)" },
	{ "content rows do not match the stored size",
	    "SELECT count(*) FROM message m WHERE"
	    " (SELECT count(*) FROM chunk WHERE cid BETWEEN m.mid << 20"
	    " AND (m.mid << 20) | 1048575) <> m.size / 4056"
	    " OR (SELECT length(data) FROM tail WHERE mid = m.mid)"
	    " IS NOT m.size % 4056" },
	{ "complete message with a wrong size or no SHA-256",
	    "SELECT count(*) FROM message WHERE complete = 1 AND"
	    " (size <> total OR length(sha256) IS NOT 32)" },
	{ "complete message with nothing left to do (not collected)",
	    "SELECT count(*) FROM message m WHERE complete = 1 AND NOT EXISTS"
	    " (SELECT 1 FROM rcpt r WHERE r.mid = m.mid"
	    " AND r.state NOT IN " FINAL_SQL ")" },
	{ "incoming recipient of a complete message, or the reverse",
	    "SELECT count(*) FROM rcpt r JOIN message m ON m.mid = r.mid"
	    " WHERE (r.state = " QUEUE_RS_SQL(INCOMING) ") <> (m.complete = 0)" },
	{ "rows without their message",
	    "SELECT (SELECT count(*) FROM rcpt WHERE mid NOT IN"
	    " (SELECT mid FROM message)) + (SELECT count(*) FROM tail"
	    " WHERE mid NOT IN (SELECT mid FROM message)) + (SELECT count(*)"
	    " FROM chunk WHERE (cid >> 20) NOT IN (SELECT mid FROM message))" },
	{ "unknown recipient state",
	    "SELECT count(*) FROM rcpt WHERE state NOT BETWEEN 0 AND 9" },
};

int
queue__db_audit(struct queue__db *d)
{
	int bad = 0;

	GW_REQUIRE(QUEUE_CHUNK_BYTES == 4056 && CHUNK_SHIFT == 20);
	for (size_t i = 0; i < GW_ARRAY_LEN(audits); i++) {
		int64_t n = 0;
		int rc = pragma_int(d, audits[i].sql, &n);
		if (rc)
			return rc;
		if (n) {
			GW_LOGE(SUB, "event=audit_failed count=%lld what=\"%s\"",
			    (long long)n, gw_logq(audits[i].what));
			bad++;
		}
	}
	return bad ? GW_ECORRUPT : 0;
}

/*
 * maildir.h - final delivery of one message into a Maildir.
 *
 * The classic Maildir protocol, made durable:
 *   1. create a uniquely named file in DIR/tmp (O_EXCL),
 *   2. write "Return-Path:" and "Delivered-To:" then the message with LF
 *      line ends (Maildir files use the local convention), fsync the file,
 *   3. link it into DIR/new under its final unique name (rename where the
 *      file system has no hard links), remove the tmp name,
 *   4. fsync DIR/new so the directory entry is on disk too.
 * Only after step 4 does the caller hear "delivered". A crash before it
 * leaves at most a stray file in tmp/ (readers ignore tmp/), never a partial
 * message in new/.
 *
 * Unique names follow the Maildir convention: "SECONDS.M<usec>P<pid>V<dev>
 * I<inode>.HOST,S=<size>" ("/" and ":" in HOST written as \057 and \072).
 *
 * Thread: maildir_deliver() is called on the loop thread; the blocking work
 * runs on libuv's thread pool (uv_queue_work) and the callback runs on the
 * loop thread. maildir_write() is the blocking core: never on the loop.
 */
#ifndef GW_GATEWAY_MAILDIR_H
#define GW_GATEWAY_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

/* The system calls the writer uses, so tests can inject ENOSPC/EACCES and
 * count fsyncs (a production seam, like SQLite's OS layer). Each returns 0
 * (or a byte count / fd) or a negative errno. NULL hooks use the system. */
struct maildir_io {
	int (*open_excl)(void *ctx, const char *path); /* -> fd */
	ssize_t (*write)(void *ctx, int fd, const void *p, size_t n);
	int (*fsync)(void *ctx, int fd);
	void *ctx;
};

struct maildir_req {
	const char *dir;           /* Maildir root (already expanded) */
	const char *rcpt;          /* for Delivered-To */
	const char *return_path;   /* envelope sender, "" for <> */
	const char *hostname;      /* for the unique name */
	const uint8_t *content;    /* message, CRLF or LF; borrowed */
	size_t len;
	bool create;               /* create DIR, tmp/, new/, cur/ if missing */
	const struct maildir_io *io; /* NULL = the system */
};

/* Blocking: write one message. Returns 0 and the final path (relative to
 * dir, "new/NAME") in name, or a negative errno / GW_E* code; on failure
 * nothing is left in new/ and the tmp file is removed. */
int maildir_write(const struct maildir_req *req, char *name, size_t namelen);

/* Completion on the loop thread: status as maildir_write, name valid only
 * during the call ("" on failure). */
typedef void (*maildir_cb)(int status, const char *name, void *arg);

/* Run maildir_write on the thread pool. The strings in req are copied;
 * content and io stay borrowed until the callback. Returns 0 (the callback
 * runs exactly once, later) or a negative code without calling back. */
int maildir_deliver(uv_loop_t *loop, const struct maildir_req *req,
    maildir_cb cb, void *arg);

/* Expand a route's Maildir template for one recipient: %u -> local part
 * (lower-cased), %d -> domain (lower-cased), %% -> %. Returns 0, or
 * GW_EINVAL when the expansion would not be a safe single path component
 * (empty, ".", "..", leading '.', '/' or control characters) or too long. */
int maildir_expand(const char *tmpl, const char *rcpt, char *out,
    size_t outlen);

/* True when the header section already has "Delivered-To: <rcpt>" for this
 * recipient (case-insensitive): the message has looped back here. */
bool maildir_seen_delivered_to(const uint8_t *msg, size_t len,
    const char *rcpt);

#endif

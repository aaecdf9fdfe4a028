/*
 * harness.h - a control server with fake operations, run on a libuv loop
 * in its own thread, for the control tests and the console's fake daemon.
 *
 * The fake daemon: two links (hf1 sending, vhf2 down), three queue bands,
 * one transfer on the air whose progress follows real time, one message at
 * risk, a held list that hold/release move messages in and out of, and a
 * log of every action it was asked to do (with the caller's uid and pid).
 */
#ifndef GW_TESTS_CONTROL_HARNESS_H
#define GW_TESTS_CONTROL_HARNESS_H

#include "gateway/control/control.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#define FAKE_ACTIONS_MAX 64

struct fake_action {
	enum control_op op;
	char id[STATUS_ID_MAX];
	char link[STATUS_NAME_MAX];
	char route[STATUS_ADDR_MAX];
	uid_t uid;
	pid_t pid;
};

struct harness {
	uv_loop_t loop;
	uv_async_t cmd;
	pthread_t thread;
	struct control *ctl;
	char dir[512];
	char path[600];

	pthread_mutex_t lock;   /* guards everything below */
	pthread_cond_t cond;
	void (*cmd_fn)(struct harness *h, void *arg);
	void *cmd_arg;
	bool cmd_done;

	struct fake_action actions[FAKE_ACTIONS_MAX];
	size_t nactions;
	int64_t start_ms;       /* loop time when started */
	bool onair_held;        /* the on-air message was held */
	bool link_down;         /* hf1 taken down */
	size_t ndone_late;      /* delayed actions finished */
	FILE *action_log;       /* optional: one line per action */
};

/* Start a server at dir/control.sock (opts may be NULL for defaults; its
 * path is ignored). Returns 0 or the control_new error. */
int harness_start(struct harness *h, const char *dir,
    const struct control_opts *opts);
/* Run fn(h, arg) on the loop thread and wait for it. */
void harness_run(struct harness *h, void (*fn)(struct harness *, void *),
    void *arg);
/* Post an event from the loop thread. */
void harness_post(struct harness *h, const char *text);
size_t harness_nclients(struct harness *h);
size_t harness_nactions(struct harness *h);
struct fake_action harness_action(struct harness *h, size_t i);
/* Close the server, stop the loop and join the thread. */
void harness_stop(struct harness *h);

/* The fake daemon's ops (the harness installs them). */
void fake_fill_status(void *arg, struct status *st);
void fake_do_action(void *arg, const struct control_action *act,
    control_done_fn done, void *token);

#define FAKE_ONAIR_ID "3f2a9c0e11d84b7a9e5c2d1f0a6b8c4d"
#define FAKE_RISK_ID "9c1d77e2a0b34f5c8d6e1a2b3c4d5e6f"
#define FAKE_HELD_ID "77aa0b1c2d3e4f5061728394a5b6c7d8"
#define FAKE_ONAIR_TOTAL 60000
#define FAKE_ONAIR_BPS 1200 /* bytes per second of progress */

#endif

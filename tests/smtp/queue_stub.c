/*
 * queue_stub.c - stand-ins for the queue functions the SMTP modules link
 * against, used only while queue/ does not define them yet (see
 * tests/smtp/CMakeLists.txt). The tests submit through opts.submit, so
 * queue_submit here is never reached.
 */
#include "queue/queue.h"

#include "common/err.h"

#include <stdio.h>

int
queue_submit(struct queue *q, struct queue_envelope *env, struct buf *content,
    queue_submit_cb cb, void *arg)
{
	(void)q;
	(void)env;
	(void)content;
	(void)cb;
	(void)arg;
	return GW_EUNSUPP;
}

void
queue_id_hex(const uint8_t id[QUEUE_ID_LEN], char out[33])
{
	for (int i = 0; i < QUEUE_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

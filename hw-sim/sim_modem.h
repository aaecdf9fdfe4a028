/*
 * sim_modem.h - modem firmware emulation, driven by a firmware profile.
 *
 * A sim_modem is what a host sees at the serial port of a radio modem: it
 * takes the host's bytes, answers AT commands or handles KISS frames as
 * the profile says, buffers data for the air in the channel's per-side
 * queue (the modem buffer: when it is full the modem stops accepting), and
 * hands the host what the channel delivers. Three personalities, chosen by
 * the profile (data, not model names):
 *
 *   raw    framing = raw, carrier != inband: a transparent data pump
 *   at     framing = raw, carrier = inband: a Hayes-style command set
 *          (OK, ERROR, RING, CONNECT <rate>, NO CARRIER, BUSY; E/V/Q/H/O/Z,
 *          D to dial the modem on the other side, "+++" escape with guard
 *          times; loss of signal for 1 s drops the call: NO CARRIER)
 *   kiss   framing = kiss: KISS frames from the host; data frames go on
 *          the air with a CRC and reach the far host as KISS frames only if
 *          the CRC checks (a corrupted frame is dropped, as a TNC does);
 *          TXDELAY (key-up delay), PERSIST and SLOTTIME (p-persistent
 *          CSMA) shape each key-up; TXTAIL and FULLDUPLEX are accepted
 *          and recorded only; C0 FF C0 leaves KISS mode
 *
 * Pure and clock-driven like the channel: functions take now (ms) and
 * sim_modem_step() returns the next deadline. Owner: the creator (usually a
 * sim_link); one thread; no logging.
 */
#ifndef GW_HW_SIM_SIM_MODEM_H
#define GW_HW_SIM_SIM_MODEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct prof;
struct sim_channel;

#define SIM_MODEM_STATE_MAP(XX) \
	XX(DATA, "data")             /* raw: always passing data */ \
	XX(CMD, "command")           /* at: offline command mode */ \
	XX(DIALING, "dialing")       /* at: waiting for the handshake */ \
	XX(ONLINE, "online")         /* at: connected, passing data */ \
	XX(ONLINE_CMD, "online-command") /* at: connected, escaped */ \
	XX(KISS, "kiss")             /* kiss: framing */ \
	XX(KISS_OFF, "kiss-off")     /* kiss: left KISS mode; input ignored */

enum sim_modem_state {
#define SIM__MS(n, t) SIM_MODEM_##n,
	SIM_MODEM_STATE_MAP(SIM__MS)
#undef SIM__MS
};

const char *sim_modem_state_name(int state);

struct sim_modem_stats {
	uint64_t host_in_bytes;    /* accepted from the host */
	uint64_t host_out_bytes;   /* handed to the host */
	uint64_t host_out_dropped; /* the host did not read: dropped */
	uint64_t rx_discarded;     /* air bytes arriving while not online */
	uint64_t commands;         /* AT command lines */
	uint64_t connects;
	uint64_t no_carrier;
	uint64_t busy;
	uint64_t frames_tx;        /* KISS data frames sent on the air */
	uint64_t frames_rx;        /* KISS data frames given to the host */
	uint64_t frames_bad;       /* received with a bad CRC: dropped */
	uint64_t frames_too_long;  /* host frame over the MTU: dropped */
	uint64_t kiss_params;      /* KISS parameter commands applied */
};

struct sim_modem;

/* side is the channel side this modem sits on (0 or 1). The profile is
 * copied. */
struct sim_modem *sim_modem_new(const struct prof *p, struct sim_channel *ch,
    int side, int64_t now_ms);
void sim_modem_free(struct sim_modem *m);
/* The modem at the other end, which a dial reaches. */
void sim_modem_set_peer(struct sim_modem *m, struct sim_modem *peer);
/* Answer incoming calls with BUSY (a far end that is occupied). */
void sim_modem_set_busy(struct sim_modem *m, bool busy);

/* Bytes from the host. Returns how many were accepted; fewer than n means
 * the modem buffer is full (flow control): offer the rest later. */
size_t sim_modem_host_write(struct sim_modem *m, int64_t now_ms,
    const void *data, size_t n);
/* Bytes for the host. */
size_t sim_modem_host_read(struct sim_modem *m, void *buf, size_t cap);
size_t sim_modem_host_pending(const struct sim_modem *m);

/* Take what the channel delivered, run timers. The channel must have been
 * advanced to now. Returns the next deadline or SIM_NEVER. */
int64_t sim_modem_step(struct sim_modem *m, int64_t now_ms);

int sim_modem_state(const struct sim_modem *m);
int64_t sim_modem_keyup_ms(const struct sim_modem *m);
const struct sim_modem_stats *sim_modem_stats(const struct sim_modem *m);

#endif

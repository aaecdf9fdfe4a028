/*
 * drv.h - the link driver interface: how skywave touches a radio modem.
 *
 * A driver moves bytes (or frames) between the link layer above and one
 * device below: a real UART, a pseudo-terminal, a KISS TNC, a modem reached
 * over TCP, or hw-sim's in-process simulated modem. Everything above the
 * driver (the link layer, the scheduler) sees only this interface.
 *
 * Layers inside one driver instance:
 *
 *      link layer (owner)  --drv_write()-->     drv core     <-- events --
 *                                   | framing (raw | sync | KISS, pure)
 *                                   | AT dialogue (at_chat, pure) while DIALING
 *                                   | bounded output queue + airtime pacer
 *                          backend: serial (libserialport | termios), tcp, sim
 *
 * The core (drv.c) is sans-I/O: it owns the output queue, the pacer, the
 * framer and the dialogue, and decides from (bytes in, time now). Backends
 * are thin: they move bytes between the core and an fd (uv_poll / uv_tcp) or
 * the simulator, and report "device open" / "device failed".
 *
 * Airtime budget (DESIGN decision 5): what goes on air next is decided above
 * the driver at the last moment, so the driver keeps at most about one second
 * of airtime below the link layer. The core paces bytes into the device at
 * the profile's air rate (a device may accept kilobytes into kernel and modem
 * buffers at once; that would be many seconds at 2400 bit/s) and refuses
 * writes (GW_EAGAIN) once queue + device backlog exceed the budget.
 *
 *   buffered airtime = airtime(queued bytes) + estimated device backlog
 *   high water       = max(one MTU frame on the wire, rate * buffer_ms)
 *   DRV_EV_WRITABLE  fires when buffered falls to low water (high / 2)
 *                    after it had been above it or a write was refused.
 *
 * State machine (one per driver; transitions made only by drv.c):
 *
 *   DOWN --drv_open--> OPENING --device open--> DIALING --dialogue ok--> UP
 *                       |   (no dialogue in the profile: straight to UP) |
 *                       |                          |                     |
 *                       | failure, open timeout    | dialogue failed     |
 *                       v                          v                     |
 *                     ERROR <-------- device failure ----------------- --+
 *                CARRIER_LOST <--- NO CARRIER, BUSY, peer closed ------- +
 *   ERROR, CARRIER_LOST --reconnect backoff timer, or drv_open--> OPENING
 *   any --drv_close--> CLOSING --handles closed--> (close_cb, freed)
 *
 *   DOWN          created, nothing open.
 *   OPENING       the device is being opened or connected.
 *   DIALING       the device is open; the init/dial dialogue runs. Bytes
 *                 read belong to the dialogue, not to the owner.
 *   UP            data flows; drv_write accepted.
 *   CARRIER_LOST  the modem reported loss of carrier (NO CARRIER, DCD
 *                 dropped, peer closed); queued output was discarded.
 *   ERROR         the device failed (err, reason in the event); output
 *                 discarded. Sticky until reconnect or close.
 *   CLOSING       drv_close was called; no more events except close_cb.
 *
 * Threads: a driver belongs to the loop thread that created it (or, for the
 * simulated driver under a virtual clock, to the thread that ticks it). All
 * callbacks run on that thread. Callbacks may call drv_write and drv_close.
 */
#ifndef GW_LINK_DRIVERS_DRV_H
#define GW_LINK_DRIVERS_DRV_H

#include "common/clock.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct drv;
struct prof;

#define DRV_STATE_MAP(XX)                 \
	XX(DOWN, "down")                  \
	XX(OPENING, "opening")            \
	XX(DIALING, "dialing")            \
	XX(UP, "up")                      \
	XX(CARRIER_LOST, "carrier-lost")  \
	XX(ERROR, "error")                \
	XX(CLOSING, "closing")

enum drv_state {
#define DRV__STATE_ENUM(n, s) DRV_S_##n,
	DRV_STATE_MAP(DRV__STATE_ENUM)
#undef DRV__STATE_ENUM
	DRV_S__COUNT
};

const char *drv_state_name(enum drv_state s);

/* How bytes on the device are cut into frames.
 *   PROFILE  from the profile: framing=kiss -> KISS, framing=raw -> RAW.
 *   RAW   bytes in, bytes out (DRV_EV_DATA); the owner frames them itself.
 *   SYNC  skywave's byte-stream framing with resynchronisation (framing.h);
 *         drv_write takes one frame, reads deliver DRV_EV_FRAME.
 *   KISS  KISS TNC framing (kiss.h) on the profile's KISS port; parameter
 *         frames (TXDELAY, persistence, slot time, TXtail) are sent when the
 *         device comes up. */
enum drv_framing {
	DRV_FRAMING_PROFILE = 0,
	DRV_FRAMING_RAW,
	DRV_FRAMING_SYNC,
	DRV_FRAMING_KISS,
};

/* What the link layer may plan with, derived from the firmware profile
 * (struct prof_air); rate_bps is updated by CONNECT <rate>. */
struct drv_caps {
	uint32_t mtu_bytes;     /* largest frame payload the modem takes */
	uint32_t rate_bps;      /* air rate in bit/s */
	bool full_duplex;       /* false: half-duplex, turns cost turnaround */
	uint32_t turnaround_ms; /* cost of one change of direction */
	uint32_t latency_ms;    /* modem + interleaver latency, one way */
	uint32_t max_tx_ms;     /* longest single transmission, 0 = no limit */
};

/* Fill caps from a profile. */
void drv_caps_from_prof(const struct prof *p, struct drv_caps *out);

/* Everything a driver instance needs; the caller owns it and it (with the
 * profile it points to) must stay valid until close_cb. Serial settings,
 * capabilities, KISS parameters, carrier detection and the init/dial/hangup
 * dialogues all come from the profile; the rest from the link config. */
struct drv_config {
	const struct prof *prof;  /* required */
	const char *device;       /* "/dev/ttyUSB0", "/dev/pts/7", "h:1234" */
	const char *dial_number;  /* "%N" in dial steps; NULL: "" */
	enum drv_framing framing;
	uint32_t buffer_ms;       /* airtime kept below the owner; 0: 1000 */
	uint32_t open_timeout_ms; /* open/connect/dialogue step cap; 0: 10000 */
	uint32_t reconnect_min_ms; /* 0: never reconnect after a failure */
	uint32_t reconnect_max_ms; /* backoff cap (doubling from min) */
};

/* Where the driver runs. loop may be NULL only for drivers that do no I/O of
 * their own (the simulated driver under a virtual clock); then the owner
 * calls drv_tick() at drv_next_deadline_ms(). */
struct drv_env {
	uv_loop_t *loop;
	const struct gw_clock *clock;
};

enum drv_ev_type {
	DRV_EV_STATE,    /* state changed: state, old_state, err, reason */
	DRV_EV_DATA,     /* RAW framing: bytes read (data, len). With an
			  * in-band carrier profile the text NO CARRIER in
			  * the raw stream drops the link, so an owner that
			  * may send that text should use SYNC framing, where
			  * only bytes outside good frames count. */
	DRV_EV_FRAME,    /* SYNC/KISS: one complete frame (data, len, port) */
	DRV_EV_WRITABLE, /* buffered airtime fell to low water: write more */
	DRV_EV_CARRIER,  /* carrier detect (profile carrier = dcd) changed:
			  * the modem hears a signal (carrier) or not. This
			  * is channel state, not link state: HF modems
			  * raise DCD only while they receive. */
};

struct drv_event {
	enum drv_ev_type type;
	enum drv_state state, old_state;
	int err;                /* STATE: 0 or the GW_E* / -errno cause */
	const char *reason;     /* STATE: short text, or NULL; borrowed */
	uint32_t rate_bps;      /* STATE UP: rate from CONNECT, else caps */
	const uint8_t *data;    /* DATA/FRAME: borrowed for the call only */
	size_t len;
	unsigned port;          /* FRAME from KISS: the TNC port */
	bool carrier;           /* CARRIER: signal heard */
};

typedef void (*drv_event_cb)(struct drv *d, const struct drv_event *ev,
    void *arg);
typedef void (*drv_close_cb)(struct drv *d, void *arg);

struct drv_stats {
	uint64_t bytes_in, bytes_out;       /* on the device */
	uint64_t frames_in, frames_out;
	uint64_t garbage_bytes;             /* skipped while resynchronising */
	uint64_t bad_frames;                /* header/length/check failures */
	uint64_t refused_writes;            /* GW_EAGAIN from drv_write */
	uint64_t opens, failures;
};

/*
 * Backends. A backend is a struct drv_class in a registry; its instance
 * struct embeds struct drv as its first member (instance_size bytes are
 * allocated zeroed by drv_create). Backend-side calls are in drv_backend.h
 * style below (drv__*), used only inside link-drivers/ and hw-sim/.
 */
struct drv_class {
	const char *name;            /* "serial", "pty", "kiss", "tcp", "sim" */
	size_t instance_size;        /* >= sizeof(struct drv) */
	/* Force a framing regardless of config (KISS driver), or -1. */
	int force_framing;
	/* Check the config: 0 or GW_ECONFIG/GW_EUNSUPP (by drv_create). */
	int (*check)(const struct drv_config *cfg);
	/* Start opening the device. Report the outcome later (or at once) with
	 * drv__device_up() or drv__device_failed(). Returns 0 or an error
	 * (the core then treats it as drv__device_failed). */
	int (*open)(struct drv *d);
	/* Output was queued or the pacer allows more: write what
	 * drv__out_allowance() permits, take it with drv__out_consume(). */
	void (*kick)(struct drv *d);
	/* Release the device (fd, socket) after a failure so open() may run
	 * again; libuv handles may stay initialised. Synchronous. */
	void (*release)(struct drv *d);
	/* Close everything; call drv__closed(d) once every handle's close
	 * callback has run (may be called synchronously). */
	void (*close)(struct drv *d);
	/* Key or unkey the transmitter (profile keying = rts or dtr); NULL
	 * when the backend has no modem lines. */
	void (*set_ptt)(struct drv *d, bool on);
	/* Raise or drop DTR (quirk hangup_by_dtr); NULL when the backend has
	 * no modem lines. */
	void (*set_dtr)(struct drv *d, bool on);
};

/* The set of driver classes a process knows. Owned by the caller (the
 * daemon, a test); no global registry. */
#define DRV_REGISTRY_MAX 16
struct drv_registry {
	const struct drv_class *cls[DRV_REGISTRY_MAX];
	size_t n;
};

/* An empty registry, then the built-in classes: serial (libserialport,
 * falling back to termios for pseudo-terminals), pty (termios only), kiss
 * (serial with KISS framing), tcp. hw-sim registers "sim" itself. */
void drv_registry_init(struct drv_registry *r);
void drv_registry_add_builtin(struct drv_registry *r);
/* 0, GW_EEXIST (name taken) or GW_ELIMIT (registry full). */
int drv_register(struct drv_registry *r, const struct drv_class *cls);
const struct drv_class *drv_find(const struct drv_registry *r,
    const char *name);

/*
 * The owner's API.
 */

/* Create a driver of class name. Returns 0 and *out, GW_ENOENT (no such
 * class), GW_ECONFIG (bad config: mtu 0, or SYNC/KISS framing over a
 * modem whose data path is not 8-bit clean, quirk seven_bit), or the
 * class's check error.
 * cfg and env are borrowed until close_cb. Nothing is opened yet. */
int drv_create(const struct drv_registry *r, const char *name,
    const struct drv_config *cfg, const struct drv_env *env,
    drv_event_cb cb, void *arg, struct drv **out);

/* Start opening (DOWN -> OPENING). 0 or GW_ESTATE. Outcome via events. */
int drv_open(struct drv *d);

/* Queue bytes (RAW) or one frame (SYNC/KISS) for the device; all or
 * nothing. Returns 0; GW_ESTATE when not UP; GW_ETOOBIG when a frame is
 * larger than caps.mtu_bytes; GW_EAGAIN when the airtime budget is full
 * (a DRV_EV_WRITABLE follows). A write is always accepted when nothing is
 * buffered, so one frame larger than the budget can still go. */
int drv_write(struct drv *d, const void *p, size_t n);

/* Bytes on the wire buffered below the owner: queue + device backlog. */
size_t drv_buffered_bytes(const struct drv *d);
/* The same as airtime at the current rate, in ms. */
int64_t drv_buffered_ms(const struct drv *d);
/* Payload bytes a RAW write could add now without GW_EAGAIN (for framed
 * modes a frame of this size is accepted; escaping may make it shorter). */
size_t drv_writable_bytes(const struct drv *d);
/* The high-water mark in wire bytes (derived from rate and buffer_ms). */
size_t drv_high_water(const struct drv *d);

enum drv_state drv_state(const struct drv *d);
/* Current capabilities (rate updated by CONNECT <rate>). */
const struct drv_caps *drv_caps(const struct drv *d);
const char *drv_class_name(const struct drv *d);
void drv_get_stats(const struct drv *d, struct drv_stats *out);

/* Close: when UP, runs the hangup dialogue if the profile has one (bounded
 * by its timeouts), or with quirk hangup_by_dtr drops DTR for a second
 * instead; sends the KISS Return frame with quirk kiss_exit_on_close; then
 * closes the device and every handle, calls cb and frees d. No events
 * after this call except cb; d is invalid after cb. */
void drv_close(struct drv *d, drv_close_cb cb, void *arg);

/* Virtual-clock drivers (env.loop == NULL): the next time the core wants
 * drv_tick (INT64_MAX: none), and the tick itself. With a loop the core arms
 * its own timer and these need not be called. */
int64_t drv_next_deadline_ms(const struct drv *d);
void drv_tick(struct drv *d);

/*
 * Backend side (link-drivers/ and hw-sim/ only). The instance layout is
 * exposed so a backend can embed it; owners must not touch the fields.
 */
struct drv_core;
struct drv {
	const struct drv_class *cls;
	const struct drv_config *cfg;
	const struct drv_env *env;
	struct drv_core *core;     /* private to drv.c */
};

/* The device is open and bytes may flow (OPENING -> DIALING or UP). */
void drv__device_up(struct drv *d);
/* The device failed or closed (-> ERROR, or CARRIER_LOST when carrier is
 * true). The core calls cls->release and schedules reconnect if set. */
void drv__device_failed(struct drv *d, int err, bool carrier,
    const char *reason);
/* Bytes read from the device. */
void drv__input(struct drv *d, const uint8_t *p, size_t n);
/* Pacing: wire bytes the backend may hand to the device now, and a view of
 * them (contiguous, at most the allowance). */
size_t drv__out_allowance(struct drv *d, const uint8_t **p);
/* n bytes were accepted by the device. */
void drv__out_consume(struct drv *d, size_t n);
/* Every handle is closed; the core calls the owner's close_cb and frees. */
void drv__closed(struct drv *d);
/* The rate after CONNECT <rate> or a modem report. */
void drv__set_rate(struct drv *d, uint32_t rate_bps);
/* Carrier detect changed (emits DRV_EV_CARRIER while UP). */
void drv__carrier(struct drv *d, bool on);
/* True once drv_close was called: a backend read loop stops feeding. */
bool drv__closing(const struct drv *d);
/* Time now on the driver's clock. */
int64_t drv__now_ms(const struct drv *d);

#endif

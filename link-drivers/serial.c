/*
 * serial.c - serial line backends of the driver core: libserialport for
 * real UARTs, termios for pseudo-terminals (see serial.h).
 *
 * Ownership: struct serial_drv is the driver instance (struct drv first),
 * allocated and freed by drv.c. Per open it holds one fd and one heap
 * uv_poll_t; release() closes both (the handle frees itself in its close
 * callback), close() additionally waits for every handle close before it
 * reports drv__closed. Loop thread only.
 *
 * Backend states (within the core's OPENING..UP):
 *   closed (fd < 0) --open ok--> open (fd watched, readable; writable only
 *   while output is pending and the device refused part of it)
 *   open --read/write error, hang-up--> drv__device_failed
 *        (the core calls release: back to closed)
 */
#include "link-drivers/serial.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "firmware-profiles/profile.h"

#include <errno.h>
#include <fcntl.h>
#include <libserialport.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#define READS_PER_EVENT 16
#define READ_CHUNK 4096
#define DCD_POLL_MS 500

enum serial_be { BE_AUTO, BE_TERMIOS, BE_SP };

struct serial_drv {
	struct drv base;        /* first: the core allocates us */
	enum serial_be be;      /* the class's choice */
	enum serial_be active;  /* backend of the open device */
	struct sp_port *sp;
	int fd;                 /* valid only while has_fd */
	bool has_fd;
	uv_poll_t *poll;        /* heap; frees itself on close */
	int poll_events;
	uv_timer_t dcd_timer;
	bool dcd_inited, dcd_high;
	int pending_closes;
	bool closing;
	int zero_reads;
};

int
serial_sp_err(int sp_ret)
{
	int e;

	switch (sp_ret) {
	case SP_OK:
		return 0;
	case SP_ERR_ARG:
		return GW_EINVAL;
	case SP_ERR_SUPP:
		return GW_EUNSUPP;
	case SP_ERR_MEM:
		GW_REQUIRE(!"libserialport: out of memory");
		return GW_EINTERNAL;
	case SP_ERR_FAIL:
		e = sp_last_error_code();
		return e > 0 ? gw_err_from_errno(-e) : GW_EIO;
	default:
		return sp_ret < 0 ? GW_EIO : 0;
	}
}

bool
serial_is_pty(const char *path)
{
	char real[PATH_MAX];
	struct stat st;

	if (realpath(path, real) != NULL &&
	    (strncmp(real, "/dev/pts/", 9) == 0 ||
		strcmp(real, "/dev/ptmx") == 0))
		return true;
	/* Unix98 pty slaves have majors 136..143. */
	if (stat(path, &st) == 0 && S_ISCHR(st.st_mode)) {
		unsigned maj = major(st.st_rdev);
		return maj >= 136 && maj <= 143;
	}
	return false;
}

/* ---- termios ------------------------------------------------------------ */

static int
baud_to_speed(int64_t baud, speed_t *out)
{
	static const struct {
		int64_t baud;
		speed_t sp;
	} tab[] = {
		{ 50, B50 }, { 75, B75 }, { 110, B110 }, { 134, B134 },
		{ 150, B150 }, { 200, B200 }, { 300, B300 }, { 600, B600 },
		{ 1200, B1200 }, { 1800, B1800 }, { 2400, B2400 },
		{ 4800, B4800 }, { 9600, B9600 }, { 19200, B19200 },
		{ 38400, B38400 }, { 57600, B57600 }, { 115200, B115200 },
		{ 230400, B230400 }, { 460800, B460800 },
		{ 500000, B500000 }, { 576000, B576000 },
		{ 921600, B921600 }, { 1000000, B1000000 },
		{ 1152000, B1152000 }, { 1500000, B1500000 },
		{ 2000000, B2000000 }, { 2500000, B2500000 },
		{ 3000000, B3000000 }, { 3500000, B3500000 },
		{ 4000000, B4000000 },
	};
	size_t i;

	for (i = 0; i < GW_ARRAY_LEN(tab); i++) {
		if (tab[i].baud == baud) {
			*out = tab[i].sp;
			return 0;
		}
	}
	return GW_ECONFIG;
}

static int
termios_configure(int fd, const struct prof_serial *ps)
{
	struct termios t;
	speed_t sp;
	int rc;

	if (tcgetattr(fd, &t) < 0)
		return gw_err_from_errno(-errno);
	cfmakeraw(&t);
	t.c_cflag |= CREAD | CLOCAL;
	if (ps->baud > 0) {
		if ((rc = baud_to_speed(ps->baud, &sp)) < 0)
			return rc;
		cfsetispeed(&t, sp);
		cfsetospeed(&t, sp);
	}
	t.c_cflag &= ~(tcflag_t)CSIZE;
	switch (ps->data_bits) {
	case 5: t.c_cflag |= CS5; break;
	case 6: t.c_cflag |= CS6; break;
	case 7: t.c_cflag |= CS7; break;
	default: t.c_cflag |= CS8; break;
	}
	t.c_cflag &= ~(tcflag_t)(PARENB | PARODD);
	if (ps->parity == PROF_PARITY_EVEN)
		t.c_cflag |= PARENB;
	else if (ps->parity == PROF_PARITY_ODD)
		t.c_cflag |= PARENB | PARODD;
	if (ps->stop_bits == 2)
		t.c_cflag |= CSTOPB;
	else
		t.c_cflag &= ~(tcflag_t)CSTOPB;
	t.c_cflag &= ~(tcflag_t)CRTSCTS;
	t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
	if (ps->flow == PROF_FLOW_RTSCTS)
		t.c_cflag |= CRTSCTS;
	else if (ps->flow == PROF_FLOW_XONXOFF)
		t.c_iflag |= IXON | IXOFF;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &t) < 0)
		return gw_err_from_errno(-errno);
	return 0;
}

static int
termios_open(struct serial_drv *s)
{
	const struct drv_config *cfg = s->base.cfg;
	int fd, rc;

	fd = open(cfg->device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return gw_err_from_errno(-errno);
	if (!isatty(fd)) {
		close(fd);
		return GW_EUNSUPP;
	}
	if ((rc = termios_configure(fd, &cfg->prof->serial)) < 0) {
		close(fd);
		return rc;
	}
	s->fd = fd;
	s->has_fd = true;
	s->active = BE_TERMIOS;
	return 0;
}

/* ---- libserialport ------------------------------------------------------ */

static int
sp_configure(struct sp_port *p, const struct prof_serial *ps)
{
	enum sp_return r;
	enum sp_parity par = SP_PARITY_NONE;
	enum sp_flowcontrol fc = SP_FLOWCONTROL_NONE;

	if (ps->parity == PROF_PARITY_EVEN)
		par = SP_PARITY_EVEN;
	else if (ps->parity == PROF_PARITY_ODD)
		par = SP_PARITY_ODD;
	if (ps->flow == PROF_FLOW_RTSCTS)
		fc = SP_FLOWCONTROL_RTSCTS;
	else if (ps->flow == PROF_FLOW_XONXOFF)
		fc = SP_FLOWCONTROL_XONXOFF;
	if (ps->baud > 0 && (r = sp_set_baudrate(p, (int)ps->baud)) != SP_OK)
		return serial_sp_err(r);
	if ((r = sp_set_bits(p, (int)ps->data_bits)) != SP_OK)
		return serial_sp_err(r);
	if ((r = sp_set_parity(p, par)) != SP_OK)
		return serial_sp_err(r);
	if ((r = sp_set_stopbits(p, (int)ps->stop_bits)) != SP_OK)
		return serial_sp_err(r);
	if ((r = sp_set_flowcontrol(p, fc)) != SP_OK)
		return serial_sp_err(r);
	return 0;
}

/* GW_ENOENT when libserialport does not know the device (caller may fall
 * back to termios). */
static int
sp_open_dev(struct serial_drv *s)
{
	const struct drv_config *cfg = s->base.cfg;
	struct sp_port *p = NULL;
	enum sp_return r;
	int fd, rc;

	r = sp_get_port_by_name(cfg->device, &p);
	if (r != SP_OK)
		return GW_ENOENT;
	r = sp_open(p, SP_MODE_READ_WRITE);
	if (r != SP_OK) {
		rc = serial_sp_err(r);
		sp_free_port(p);
		return rc;
	}
	if ((rc = sp_configure(p, &cfg->prof->serial)) < 0 ||
	    (rc = serial_sp_err(sp_get_port_handle(p, &fd))) < 0) {
		sp_close(p);
		sp_free_port(p);
		return rc;
	}
	s->sp = p;
	s->fd = fd;
	s->has_fd = true;
	s->active = BE_SP;
	return 0;
}

/* ---- the fd under uv_poll ---------------------------------------------- */

static void poll_cb(uv_poll_t *h, int status, int events);

static void
handle_closed(uv_handle_t *h)
{
	struct serial_drv *s = h->data;

	if (h->type == UV_POLL)
		free(h);
	GW_REQUIRE(s->pending_closes > 0);
	if (--s->pending_closes == 0 && s->closing)
		drv__closed(&s->base);
}

static void
set_poll(struct serial_drv *s, int events)
{
	if (s->poll == NULL || events == s->poll_events)
		return;
	s->poll_events = events;
	uv_poll_start(s->poll, events, poll_cb);
}

static void
serial_release(struct drv *d)
{
	struct serial_drv *s = (struct serial_drv *)d;

	if (s->poll != NULL) {
		s->pending_closes++;
		uv_close((uv_handle_t *)s->poll, handle_closed);
		s->poll = NULL;
		s->poll_events = 0;
	}
	if (s->dcd_inited)
		uv_timer_stop(&s->dcd_timer);
	if (s->sp != NULL) {
		sp_close(s->sp);
		sp_free_port(s->sp);
		s->sp = NULL;
	} else if (s->has_fd) {
		close(s->fd);
	}
	s->has_fd = false;
	s->fd = -1;
	s->zero_reads = 0;
}

/* Read what is there; the core may close us in a callback. */
static void
do_read(struct serial_drv *s)
{
	uint8_t buf[READ_CHUNK];
	ssize_t n;
	int i, rc;

	for (i = 0; i < READS_PER_EVENT && s->has_fd && !s->closing; i++) {
		if (s->active == BE_SP) {
			rc = sp_nonblocking_read(s->sp, buf, sizeof(buf));
			if (rc < 0) {
				drv__device_failed(&s->base,
				    serial_sp_err(rc), false, "read failed");
				return;
			}
			n = rc;
		} else {
			n = read(s->fd, buf, sizeof(buf));
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return;
				/* EIO: the other side of the pty is gone. */
				drv__device_failed(&s->base,
				    gw_err_from_errno(-errno), false,
				    "device read failed (hung up)");
				return;
			}
		}
		if (n == 0) {
			/* Readable but nothing: a hung-up tty reads EOF. */
			if (i == 0 && ++s->zero_reads >= 3)
				drv__device_failed(&s->base, GW_ECLOSED,
				    false, "device hung up");
			return;
		}
		s->zero_reads = 0;
		drv__input(&s->base, buf, (size_t)n);
		if ((size_t)n < sizeof(buf))
			return;
	}
}

static void
serial_kick(struct drv *d)
{
	struct serial_drv *s = (struct serial_drv *)d;
	const uint8_t *p;
	size_t n;
	ssize_t w;

	if (!s->has_fd || s->closing)
		return;
	while ((n = drv__out_allowance(d, &p)) > 0) {
		if (s->active == BE_SP) {
			int rc = sp_nonblocking_write(s->sp, p, n);
			if (rc < 0) {
				drv__device_failed(d, serial_sp_err(rc), false,
				    "write failed");
				return;
			}
			w = rc;
		} else {
			w = write(s->fd, p, n);
			if (w < 0) {
				if (errno == EAGAIN || errno == EINTR) {
					w = 0;
				} else {
					drv__device_failed(d,
					    gw_err_from_errno(-errno), false,
					    "write failed");
					return;
				}
			}
		}
		GW_LOGD("drv", "device=%s write=%zu wrote=%zd", d->cfg->device,
		    n, w);
		if (w > 0)
			drv__out_consume(d, (size_t)w);
		if ((size_t)w < n) {
			/* The device is full: wait until it drains. */
			set_poll(s, UV_READABLE | UV_DISCONNECT | UV_WRITABLE);
			return;
		}
		if (!s->has_fd)
			return;
	}
	set_poll(s, UV_READABLE | UV_DISCONNECT);
}

static void
poll_cb(uv_poll_t *h, int status, int events)
{
	struct serial_drv *s = h->data;

	if (s->closing || h != s->poll)
		return;
	if (status < 0) {
		/* libuv reports POLLERR as UV_EBADF: on a tty that is a
		 * hang-up (the far side of a pty closed, a USB adapter was
		 * unplugged). */
		drv__device_failed(&s->base, status, false,
		    "device error or hung up");
		return;
	}
	if (events & (UV_READABLE | UV_DISCONNECT))
		do_read(s);
	if (s->poll == h && (events & UV_DISCONNECT) && !s->closing) {
		/* Anything left was read above; the peer is gone. */
		drv__device_failed(&s->base, GW_ECLOSED, false,
		    "device hung up");
		return;
	}
	if (s->poll == h && (events & UV_WRITABLE) && !s->closing)
		serial_kick(&s->base);
}

/* Carrier detect from the DCD line (profile carrier = dcd), polled while
 * up and reported on change as DRV_EV_CARRIER. Ptys have no DCD:
 * monitoring stops quietly when the ioctl is refused. */
static void
dcd_cb(uv_timer_t *t)
{
	struct serial_drv *s = t->data;
	bool high;
	int bits = 0;

	if (s->closing || !s->has_fd || drv_state(&s->base) != DRV_S_UP)
		return;
	if (s->active == BE_SP) {
		enum sp_signal sig;
		if (sp_get_signals(s->sp, &sig) != SP_OK) {
			uv_timer_stop(t);
			return;
		}
		high = (sig & SP_SIG_DCD) != 0;
	} else {
		if (ioctl(s->fd, TIOCMGET, &bits) < 0) {
			uv_timer_stop(t);
			return;
		}
		high = (bits & TIOCM_CD) != 0;
	}
	if (high != s->dcd_high) {
		s->dcd_high = high;
		drv__carrier(&s->base, high);
	}
}

static int pty_open(struct drv *d);

static int
serial_open(struct drv *d)
{
	struct serial_drv *s = (struct serial_drv *)d;
	int rc;

	if (s->be == BE_TERMIOS || serial_is_pty(d->cfg->device)) {
		rc = termios_open(s);
	} else {
		rc = sp_open_dev(s);
		if (rc == GW_ENOENT)
			rc = termios_open(s);
	}
	if (rc < 0)
		return rc;
	s->poll = xmalloc(sizeof(*s->poll));
	rc = uv_poll_init(d->env->loop, s->poll, s->fd);
	if (rc < 0) {
		free(s->poll);
		s->poll = NULL;
		serial_release(d);
		return rc;
	}
	s->poll->data = s;
	s->poll_events = 0;
	set_poll(s, UV_READABLE | UV_DISCONNECT);
	if (d->cfg->prof->modem.carrier == PROF_CARRIER_DCD) {
		if (!s->dcd_inited) {
			uv_timer_init(d->env->loop, &s->dcd_timer);
			s->dcd_timer.data = s;
			s->dcd_inited = true;
		}
		s->dcd_high = false;
		uv_timer_start(&s->dcd_timer, dcd_cb, DCD_POLL_MS,
		    DCD_POLL_MS);
	}
	drv__device_up(d);
	return 0;
}

static void
serial_close(struct drv *d)
{
	struct serial_drv *s = (struct serial_drv *)d;

	s->closing = true;
	serial_release(d);
	if (s->dcd_inited) {
		s->pending_closes++;
		uv_close((uv_handle_t *)&s->dcd_timer, handle_closed);
	}
	if (s->pending_closes == 0)
		drv__closed(d);
}

static void
serial_set_ptt(struct drv *d, bool on)
{
	struct serial_drv *s = (struct serial_drv *)d;
	bool dtr = d->cfg->prof->modem.keying == PROF_KEYING_DTR;
	int bit = dtr ? TIOCM_DTR : TIOCM_RTS;

	if (!s->has_fd)
		return;
	if (s->active == BE_SP) {
		if (dtr)
			(void)sp_set_dtr(s->sp, on ? SP_DTR_ON : SP_DTR_OFF);
		else
			(void)sp_set_rts(s->sp, on ? SP_RTS_ON : SP_RTS_OFF);
		return;
	}
	/* Ptys refuse modem-line ioctls; keying is then a no-op. */
	(void)ioctl(s->fd, on ? TIOCMBIS : TIOCMBIC, &bit);
}

static void
serial_set_dtr(struct drv *d, bool on)
{
	struct serial_drv *s = (struct serial_drv *)d;
	int bit = TIOCM_DTR;

	if (!s->has_fd)
		return;
	if (s->active == BE_SP)
		(void)sp_set_dtr(s->sp, on ? SP_DTR_ON : SP_DTR_OFF);
	else
		(void)ioctl(s->fd, on ? TIOCMBIS : TIOCMBIC, &bit);
}

const char *
serial_backend_name(const struct drv *d)
{
	const struct serial_drv *s = (const struct serial_drv *)d;

	GW_REQUIRE(d->cls->open == serial_open || d->cls->open == pty_open);
	if (!s->has_fd)
		return "closed";
	return s->active == BE_SP ? "libserialport" : "termios";
}

static int
serial_check(const struct drv_config *cfg)
{
	speed_t sp;

	if (cfg->device == NULL || cfg->device[0] == '\0')
		return GW_ECONFIG;
	if (cfg->prof->serial.baud > 0 &&
	    baud_to_speed(cfg->prof->serial.baud, &sp) < 0)
		return GW_ECONFIG;
	return 0;
}

static const struct drv_class serial_cls = {
	.name = "serial",
	.instance_size = sizeof(struct serial_drv),
	.force_framing = -1,
	.check = serial_check,
	.open = serial_open,
	.kick = serial_kick,
	.release = serial_release,
	.close = serial_close,
	.set_ptt = serial_set_ptt,
	.set_dtr = serial_set_dtr,
};

/* The pty class is the same code with the termios backend forced; the
 * choice is made per class, so the instance records it at open. */
static int
pty_open(struct drv *d)
{
	((struct serial_drv *)d)->be = BE_TERMIOS;
	return serial_open(d);
}

static const struct drv_class pty_cls = {
	.name = "pty",
	.instance_size = sizeof(struct serial_drv),
	.force_framing = -1,
	.check = serial_check,
	.open = pty_open,
	.kick = serial_kick,
	.release = serial_release,
	.close = serial_close,
	.set_ptt = serial_set_ptt,
	.set_dtr = serial_set_dtr,
};

static const struct drv_class kiss_cls = {
	.name = "kiss",
	.instance_size = sizeof(struct serial_drv),
	.force_framing = DRV_FRAMING_KISS,
	.check = serial_check,
	.open = serial_open,
	.kick = serial_kick,
	.release = serial_release,
	.close = serial_close,
	.set_ptt = serial_set_ptt,
	.set_dtr = serial_set_dtr,
};

const struct drv_class *
serial_drv_class(void)
{
	return &serial_cls;
}

const struct drv_class *
serial_pty_drv_class(void)
{
	return &pty_cls;
}

const struct drv_class *
serial_kiss_drv_class(void)
{
	return &kiss_cls;
}

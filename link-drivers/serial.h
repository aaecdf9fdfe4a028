/*
 * serial.h - serial line drivers: real UARTs through libserialport,
 * pseudo-terminals through termios (libserialport 0.1.1 refuses ptys: it
 * looks the port up in sysfs and needs modem-control ioctls a pty lacks).
 *
 * Classes (register with drv_registry_add_builtin):
 *   "serial"  chooses the backend per device: a path that resolves to a
 *             pseudo-terminal (/dev/pts/N, also through symlinks such as
 *             the ones skywave-sim and socat create) uses termios; anything
 *             else goes through libserialport, falling back to termios if
 *             libserialport does not know the device.
 *   "pty"     termios only (any tty device).
 *   "kiss"    "serial" with KISS framing forced, for TNCs.
 *
 * Both backends open non-blocking, apply the profile's [serial] settings
 * (baud, data bits, parity, stop bits, flow control) in raw mode, and watch
 * the fd with uv_poll; nothing blocks the loop. sp_return codes are
 * translated to GW_E* / -errno here and nowhere else.
 */
#ifndef GW_LINK_DRIVERS_SERIAL_H
#define GW_LINK_DRIVERS_SERIAL_H

#include "link-drivers/drv.h"

#include <stdbool.h>

const struct drv_class *serial_drv_class(void);
const struct drv_class *serial_pty_drv_class(void);
const struct drv_class *serial_kiss_drv_class(void);

/* The backend of an open serial/pty/kiss driver: "libserialport",
 * "termios", or "closed" (for status displays and tests). */
const char *serial_backend_name(const struct drv *d);

/* True if path names a pseudo-terminal slave (after resolving symlinks). */
bool serial_is_pty(const char *path);

/* Translate a libserialport return code (with its errno for SP_ERR_FAIL)
 * into a skywave error code. */
int serial_sp_err(int sp_ret);

#endif

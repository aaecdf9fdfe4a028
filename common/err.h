/*
 * err.h - skywave error codes.
 *
 * Every fallible function returns int: 0 on success, or a negative code.
 * Negative codes are either one of the GW_E* codes below or a negated
 * errno value (-ENOENT) passed through from the OS; libuv's UV_E* codes
 * are negated errno values on Unix and so fit the same space.
 *
 * The list is one X-macro, GW_ERR_MAP, so names and messages stay in step.
 */
#ifndef GW_COMMON_ERR_H
#define GW_COMMON_ERR_H

#define GW_ERR_MAP(XX)                                                  \
	XX(EINTERNAL, "internal error")                                 \
	XX(EINVAL, "invalid argument")                                  \
	XX(ERANGE, "value out of range")                                \
	XX(ESYNTAX, "syntax error")                                     \
	XX(ENOENT, "not found")                                         \
	XX(EEXIST, "already exists")                                    \
	XX(EIO, "input/output error")                                   \
	XX(ENOSPC, "no space left on storage")                          \
	XX(EBUSY, "resource busy")                                      \
	XX(EAGAIN, "temporarily unavailable, try again")                \
	XX(ECANCELED, "operation canceled")                             \
	XX(ETIMEDOUT, "timed out")                                      \
	XX(ECONFIG, "bad configuration")                                \
	XX(ECORRUPT, "stored data is corrupt")                          \
	XX(EPROTO, "protocol error")                                    \
	XX(EAUTH, "authentication failed")                              \
	XX(ETOOBIG, "too big")                                          \
	XX(ELIMIT, "limit reached")                                     \
	XX(ESTATE, "not allowed in this state")                         \
	XX(EDUP, "duplicate")                                           \
	XX(ECLOSED, "closed")                                           \
	XX(EUNSUPP, "not supported")                                    \
	XX(EVERSION, "version mismatch")

enum gw_err {
	GW__EFIRST = -1001,
#define GW__ERR_ENUM(name, msg) GW_##name,
	GW_ERR_MAP(GW__ERR_ENUM)
#undef GW__ERR_ENUM
	GW__ELAST
};

/* Human-readable message for any negative code (GW_E* or -errno). */
const char *gw_strerror(int err);

/* Symbolic name ("GW_ENOSPC", "ENOENT"), or "UNKNOWN". */
const char *gw_errname(int err);

/* Map a negated errno into the GW space where one fits (ENOSPC -> GW_ENOSPC),
 * else return it unchanged. */
int gw_err_from_errno(int neg_errno);

#endif

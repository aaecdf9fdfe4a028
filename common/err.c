/*
 * err.c - names and messages for skywave error codes.
 */
#include "common/err.h"

#include <errno.h>
#include <string.h>

static const char *const err_msgs[] = {
#define XX(name, msg) msg,
	GW_ERR_MAP(XX)
#undef XX
};

static const char *const err_names[] = {
#define XX(name, msg) "GW_" #name,
	GW_ERR_MAP(XX)
#undef XX
};

static int
err_is_gw(int err)
{
	return err > GW__EFIRST && err < GW__ELAST;
}

const char *
gw_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err_is_gw(err))
		return err_msgs[err - GW__EFIRST - 1];
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}

const char *
gw_errname(int err)
{
	if (err == 0)
		return "OK";
	if (err_is_gw(err))
		return err_names[err - GW__EFIRST - 1];
	switch (-err) {
	case ENOENT: return "ENOENT";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case ENOSPC: return "ENOSPC";
	case EIO: return "EIO";
	case EINVAL: return "EINVAL";
	case EAGAIN: return "EAGAIN";
	case EEXIST: return "EEXIST";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case EPIPE: return "EPIPE";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EADDRINUSE: return "EADDRINUSE";
	case ECANCELED: return "ECANCELED";
	default: return "UNKNOWN";
	}
}

int
gw_err_from_errno(int neg_errno)
{
	switch (-neg_errno) {
	case ENOSPC:
	case EDQUOT:
		return GW_ENOSPC;
	case EIO:
		return GW_EIO;
	case ENOENT:
		return GW_ENOENT;
	case EEXIST:
		return GW_EEXIST;
	case ETIMEDOUT:
		return GW_ETIMEDOUT;
	case ECANCELED:
		return GW_ECANCELED;
	default:
		return neg_errno;
	}
}

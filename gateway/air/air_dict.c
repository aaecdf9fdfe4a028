/*
 * air_dict.c - preset dictionary lookup (see air_dict.h). Immutable data;
 * any thread.
 */
#include "gateway/air/air_dict.h"

const uint8_t *
air_dict_get(uint16_t id, size_t *len)
{
	switch (id) {
	case AIR_DICT_HEADERS:
		*len = air__dict_headers_len;
		return air__dict_headers;
	case AIR_DICT_ZSTD:
		*len = air__dict_zstd_len;
		return air__dict_zstd;
	default:
		*len = 0;
		return NULL;
	}
}

uint16_t
air_dict_default(void)
{
	return AIR_DICT_HEADERS;
}

/*
 * air_dict.h - preset compression dictionaries for the transfer stream.
 *
 * A dictionary primes zlib's window with text that mail headers repeat
 * (field names, mailing-list and MTA boilerplate), so even the first
 * message of a link session compresses like a later one. Both gateways
 * must hold the same bytes for an id: ids are never reused for different
 * contents; a new dictionary gets a new id and both sides negotiate the id
 * at link set-up (link_config.dict_id).
 *
 * AIR_DICT_HEADERS (1) is built by gateway/air/air_dict_gen.py from the
 * easy-ham-1 folder of the SpamAssassin public corpus only (the benchmark
 * folders are not used), into air_dict_data.c.
 *
 * AIR_DICT_ZSTD (2) is a zstd dictionary (entropy tables and content, id 2
 * in its header) trained by gateway/air/air_dict_zstd_gen.py with zstd --train
 * on the same easy-ham-1 folder only, into air_dict_zstd_data.c. It is used
 * by the zstd codec (LINK_FEAT_ZSTD names it; docs/air-protocol.md s7),
 * never as a deflate dictionary.
 */
#ifndef GW_GATEWAY_AIR_DICT_H
#define GW_GATEWAY_AIR_DICT_H

#include <stddef.h>
#include <stdint.h>

#define AIR_DICT_NONE 0
#define AIR_DICT_HEADERS 1
#define AIR_DICT_ZSTD 2

/* The dictionary for id, and its length; NULL (and *len 0) when unknown. */
const uint8_t *air_dict_get(uint16_t id, size_t *len);
/* The id this build offers by default. */
uint16_t air_dict_default(void);

/* Generated data (air_dict_data.c), folder-internal. */
extern const uint8_t air__dict_headers[];
extern const size_t air__dict_headers_len;
extern const uint8_t air__dict_zstd[];
extern const size_t air__dict_zstd_len;

#endif

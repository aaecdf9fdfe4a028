/*
 * bench_reencode.c - how much airtime lossless re-encoding would save.
 *
 * Usage: bench_reencode DIR LABEL MAX OUT.json [-v]
 * For up to MAX *.txt messages in DIR (LF lines turned into CRLF, as SMTP
 * delivers them): count base64 / quoted-printable parts, how many
 * re-encode byte-identically (and so travel decoded), the octets saved,
 * and the same after zlib (the air protocol compresses anyway), checking
 * that every packed message unpacks to the original octets.
 */
#include "common/buf.h"
#include "gateway/air/mime_reencode.h"
#include "gateway/conneg/conv.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t
zsize(const uint8_t *p, size_t n)
{
	uLongf cap = compressBound((uLong)n);
	uint8_t *z = malloc(cap);
	if (z == NULL || compress2(z, &cap, p, (uLong)n, 6) != Z_OK) {
		free(z);
		return n;
	}
	free(z);
	return cap;
}

int
main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s DIR LABEL MAX OUT.json\n", argv[0]);
		return 64;
	}
	int max = atoi(argv[3]);
	DIR *d = opendir(argv[1]);
	if (d == NULL) {
		perror(argv[1]);
		return 1;
	}
	char **names = NULL;
	size_t nn = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l > 4 && strcmp(de->d_name + l - 4, ".txt") == 0) {
			names = realloc(names, (nn + 1) * sizeof(*names));
			names[nn++] = strdup(de->d_name);
		}
	}
	closedir(d);
	qsort(names, nn, sizeof(*names), cmp_str);
	conv_init();
	size_t msgs = 0, with_parts = 0, bytes = 0, packed_bytes = 0;
	size_t z_orig = 0, z_packed = 0, mismatches = 0;
	/* messages carrying base64 parts (attachments, mostly) */
	size_t att_msgs = 0, att_bytes = 0, att_packed = 0, att_z = 0;
	size_t att_zp = 0;
	struct mime_pack_stats tot;
	memset(&tot, 0, sizeof(tot));
	for (size_t i = 0; i < nn && (max <= 0 || (int)msgs < max); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]);
		FILE *f = fopen(path, "rb");
		if (f == NULL)
			continue;
		struct buf m = BUF_INIT, pk = BUF_INIT, back = BUF_INIT;
		int c, prev = 0;
		while ((c = fgetc(f)) != EOF) {
			if (c == '\n' && prev != '\r')
				buf_append_byte(&m, '\r');
			buf_append_byte(&m, (uint8_t)c);
			prev = c;
		}
		fclose(f);
		struct mime_pack_stats st;
		mime_pack(m.data, m.len, &pk, &st);
		if (mime_unpack(pk.data, pk.len, &back) != 0 ||
		    back.len != m.len || memcmp(back.data, m.data, m.len) != 0)
			mismatches++;
		msgs++;
		if (st.parts > 0)
			with_parts++;
		bytes += m.len;
		packed_bytes += pk.len;
		size_t zo = zsize(m.data, m.len), zp = zsize(pk.data, pk.len);
		z_orig += zo;
		z_packed += zp;
		if (st.parts_b64 > 0) {
			att_msgs++;
			att_bytes += m.len;
			att_packed += pk.len;
			att_z += zo;
			att_zp += zp;
		}
		tot.parts += st.parts;
		tot.parts_b64 += st.parts_b64;
		tot.parts_qp += st.parts_qp;
		tot.parts_packed += st.parts_packed;
		tot.parts_identical += st.parts_identical;
		tot.enc_bytes += st.enc_bytes;
		tot.enc_packed += st.enc_packed;
		tot.dec_packed += st.dec_packed;
		buf_fini(&m);
		buf_fini(&pk);
		buf_fini(&back);
	}
	conv_shutdown();
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	double saved = bytes ? 100.0 * (double)(bytes - packed_bytes) /
	    (double)bytes : 0;
	double zsaved = z_orig ? 100.0 * ((double)z_orig - (double)z_packed) /
	    (double)z_orig : 0;
	printf("%-12s %6s %7s %6s %6s %8s %11s %11s %7s %11s %11s %7s %5s\n",
	    "corpus", "msgs", "w/parts", "parts", "b64", "qp",
	    "raw", "packed", "saved", "zlib raw", "zlib packed", "saved",
	    "bad");
	printf("%-12s %6zu %7zu %6zu %6zu %8zu %11zu %11zu %6.1f%% %11zu "
	    "%11zu %6.1f%% %5zu\n", argv[2], msgs, with_parts, tot.parts,
	    tot.parts_b64, tot.parts_qp, bytes, packed_bytes, saved, z_orig,
	    z_packed, zsaved, mismatches);
	printf("parts re-encoding byte-identically: %zu of %zu (%.1f%%); "
	    "travelling decoded (shorter): %zu, encoded %zu -> decoded "
	    "%zu octets\n", tot.parts_identical, tot.parts, tot.parts ?
	    100.0 * (double)tot.parts_identical / (double)tot.parts : 0,
	    tot.parts_packed, tot.enc_packed, tot.dec_packed);
	double att_saved = att_bytes ? 100.0 * (double)(att_bytes -
	    att_packed) / (double)att_bytes : 0;
	double att_zsaved = att_z ? 100.0 * ((double)att_z - (double)att_zp) /
	    (double)att_z : 0;
	printf("messages with base64 parts: %zu, %zu -> %zu octets (%.1f%% "
	    "saved), after zlib %zu -> %zu (%.1f%%)\n", att_msgs, att_bytes,
	    att_packed, att_saved, att_z, att_zp, att_zsaved);
	FILE *o = fopen(argv[4], "w");
	if (o == NULL) {
		perror(argv[4]);
		return 1;
	}
	fprintf(o, "{\"corpus\":\"%s\",\"messages\":%zu,"
	    "\"messages_with_encoded_parts\":%zu,\"parts\":%zu,"
	    "\"parts_base64\":%zu,\"parts_qp\":%zu,"
	    "\"parts_byte_identical\":%zu,\"parts_packed\":%zu,"
	    "\"raw_octets\":%zu,"
	    "\"packed_octets\":%zu,\"saved_pct\":%.2f,"
	    "\"zlib_raw_octets\":%zu,\"zlib_packed_octets\":%zu,"
	    "\"zlib_saved_pct\":%.2f,\"b64_messages\":%zu,"
	    "\"b64_messages_saved_pct\":%.2f,"
	    "\"b64_messages_zlib_saved_pct\":%.2f,"
	    "\"roundtrip_mismatches\":%zu}\n",
	    argv[2], msgs, with_parts, tot.parts, tot.parts_b64,
	    tot.parts_qp, tot.parts_identical, tot.parts_packed, bytes,
	    packed_bytes, saved,
	    z_orig, z_packed, zsaved, att_msgs, att_saved, att_zsaved,
	    mismatches);
	fclose(o);
	return mismatches ? 1 : 0;
}

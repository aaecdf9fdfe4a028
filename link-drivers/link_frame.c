/*
 * link_frame.c - air link frame codec, CRC-32C, tags, replay window.
 *
 * Pure and stateless. Used by link_session.c on the loop thread and by the fuzz
 * and unit tests. Cryptography is libsodium's keyed BLAKE2b
 * (crypto_generichash); no hand-written crypto.
 *
 * Why CRC-32C and not zlib's crc32: the Castagnoli polynomial has a larger
 * minimum Hamming distance than IEEE 802.3's for the frame sizes used here
 * (up to a few KB), which matters on a bit-error channel; zlib only offers
 * the IEEE polynomial. The table-driven code below follows directly from the
 * polynomial definition and is checked against the standard check value
 * (CRC-32C("123456789") = 0xE3069283) in the tests.
 */
#include "link-drivers/link_frame.h"

#include "common/err.h"

#include <sodium.h>
#include <string.h>

const char *
link_frame_type_name(unsigned type)
{
	switch (type) {
#define LINK__FT_NAME(n, v, s) \
	case v:                \
		return s;
		LINK_FRAME_TYPE_MAP(LINK__FT_NAME)
#undef LINK__FT_NAME
	default:
		return "unknown";
	}
}

/* CRC-32C lookup table: entry i is the reflected CRC of byte i, i.e. eight
 * steps of "shift right, xor 0x82F63B78 when the low bit was set". The unit
 * test recomputes every entry from that definition. */
static const uint32_t crc32c_tab[256] = {
	0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u,
	0xc79a971fu, 0x35f1141cu, 0x26a1e7e8u, 0xd4ca64ebu,
	0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
	0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u,
	0x105ec76fu, 0xe235446cu, 0xf165b798u, 0x030e349bu,
	0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
	0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u,
	0x5d1d08bfu, 0xaf768bbcu, 0xbc267848u, 0x4e4dfb4bu,
	0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
	0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u,
	0xaa64d611u, 0x580f5512u, 0x4b5fa6e6u, 0xb93425e5u,
	0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
	0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u,
	0xf779deaeu, 0x05125dadu, 0x1642ae59u, 0xe4292d5au,
	0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
	0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u,
	0x417b1dbcu, 0xb3109ebfu, 0xa0406d4bu, 0x522bee48u,
	0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
	0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u,
	0x0c38d26cu, 0xfe53516fu, 0xed03a29bu, 0x1f682198u,
	0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
	0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u,
	0xdbfc821cu, 0x2997011fu, 0x3ac7f2ebu, 0xc8ac71e8u,
	0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
	0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u,
	0xa65c047du, 0x5437877eu, 0x4767748au, 0xb50cf789u,
	0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
	0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u,
	0x7198540du, 0x83f3d70eu, 0x90a324fau, 0x62c8a7f9u,
	0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
	0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u,
	0x3cdb9bddu, 0xceb018deu, 0xdde0eb2au, 0x2f8b6829u,
	0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
	0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u,
	0x082f63b7u, 0xfa44e0b4u, 0xe9141340u, 0x1b7f9043u,
	0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
	0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u,
	0x55326b08u, 0xa759e80bu, 0xb4091bffu, 0x466298fcu,
	0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
	0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u,
	0xa24bb5a6u, 0x502036a5u, 0x4370c551u, 0xb11b4652u,
	0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
	0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du,
	0xef087a76u, 0x1d63f975u, 0x0e330a81u, 0xfc588982u,
	0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
	0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u,
	0x38cc2a06u, 0xcaa7a905u, 0xd9f75af1u, 0x2b9cd9f2u,
	0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
	0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u,
	0x0417b1dbu, 0xf67c32d8u, 0xe52cc12cu, 0x1747422fu,
	0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
	0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u,
	0xd3d3e1abu, 0x21b862a8u, 0x32e8915cu, 0xc083125fu,
	0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
	0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u,
	0x9e902e7bu, 0x6cfbad78u, 0x7fab5e8cu, 0x8dc0dd8fu,
	0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
	0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u,
	0x69e9f0d5u, 0x9b8273d6u, 0x88d28022u, 0x7ab90321u,
	0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
	0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u,
	0x34f4f86au, 0xc69f7b69u, 0xd5cf889du, 0x27a40b9eu,
	0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
	0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
};

uint32_t
link_crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	crc = ~crc;
	while (n--)
		crc = crc32c_tab[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}

size_t
link_frame_wire_bytes(size_t len, bool tagged)
{
	return LINK_FRAME_HDR_BYTES + len +
	    (tagged ? LINK_FRAME_TAG_BYTES : 0) + LINK_FRAME_CRC_BYTES;
}

static void
frame_tag(uint8_t tag[LINK_FRAME_TAG_BYTES], const uint8_t *p, size_t n,
    const uint8_t key[LINK_KEY_BYTES])
{
	crypto_generichash(tag, LINK_FRAME_TAG_BYTES, p, n, key,
	    LINK_KEY_BYTES);
}

size_t
link_frame_encode(const struct link_frame *f,
    const uint8_t key[LINK_KEY_BYTES], uint8_t *out, size_t cap)
{
	bool tagged = key != NULL;
	size_t need = link_frame_wire_bytes(f->len, tagged);
	uint8_t flags = (uint8_t)(f->flags & ~LINK_FL_TAG);

	if (f->len > LINK_FRAME_MAX_PAYLOAD || need > cap)
		return 0;
	if (tagged)
		flags |= LINK_FL_TAG;
	out[0] = (uint8_t)((LINK_FRAME_VERSION << 4) | (f->type & 0x0f));
	out[1] = flags;
	put32(out + 2, f->fctr);
	put16(out + 6, f->seq);
	put16(out + 8, (uint16_t)f->len);
	if (f->len)
		memcpy(out + LINK_FRAME_HDR_BYTES, f->payload, f->len);
	size_t off = LINK_FRAME_HDR_BYTES + f->len;
	if (tagged) {
		frame_tag(out + off, out, off, key);
		off += LINK_FRAME_TAG_BYTES;
	}
	put32(out + off, link_crc32c(0, out, off));
	return off + LINK_FRAME_CRC_BYTES;
}

int
link_frame_decode(const uint8_t *p, size_t n, struct link_frame *f)
{
	memset(f, 0, sizeof(*f));
	if (n < LINK_FRAME_HDR_BYTES + LINK_FRAME_CRC_BYTES)
		return GW_EPROTO;
	size_t len = get16(p + 8);
	bool tagged = (p[1] & LINK_FL_TAG) != 0;
	if (link_frame_wire_bytes(len, tagged) != n)
		return GW_EPROTO;
	if (link_crc32c(0, p, n - LINK_FRAME_CRC_BYTES) !=
	    get32(p + n - LINK_FRAME_CRC_BYTES))
		return GW_ECORRUPT;
	f->version = (uint8_t)(p[0] >> 4);
	f->type = (uint8_t)(p[0] & 0x0f);
	f->flags = p[1];
	f->fctr = get32(p + 2);
	f->seq = get16(p + 6);
	f->len = len;
	f->payload = p + LINK_FRAME_HDR_BYTES;
	if (f->version != LINK_FRAME_VERSION)
		return GW_EVERSION;
	if ((f->flags & ~LINK_FL__KNOWN) != 0 || f->type < LINK_FT_HELLO ||
	    f->type > LINK_FT_CLOSE)
		return GW_EPROTO;
	return 0;
}

int
link_frame_verify(const uint8_t *p, size_t n, const struct link_frame *f,
    const uint8_t key[LINK_KEY_BYTES])
{
	uint8_t tag[LINK_FRAME_TAG_BYTES];
	size_t off = LINK_FRAME_HDR_BYTES + f->len;

	if (!(f->flags & LINK_FL_TAG) ||
	    n != off + LINK_FRAME_TAG_BYTES + LINK_FRAME_CRC_BYTES)
		return GW_EAUTH;
	frame_tag(tag, p, off, key);
	if (sodium_memcmp(tag, p + off, LINK_FRAME_TAG_BYTES) != 0)
		return GW_EAUTH;
	return 0;
}

void
link_replay_init(struct link_replay *w)
{
	w->top = 0;
	w->seen = 0;
}

bool
link_replay_check(const struct link_replay *w, uint32_t ctr)
{
	if (ctr == 0)
		return false;
	if (ctr > w->top)
		return true;
	uint32_t back = w->top - ctr;
	if (back >= 64)
		return false;
	return !(w->seen & ((uint64_t)1 << back));
}

void
link_replay_commit(struct link_replay *w, uint32_t ctr)
{
	if (ctr > w->top) {
		uint32_t shift = ctr - w->top;
		w->seen = shift >= 64 ? 0 : w->seen << shift;
		w->seen |= 1;
		w->top = ctr;
	} else {
		uint32_t back = w->top - ctr;
		if (back < 64)
			w->seen |= (uint64_t)1 << back;
	}
}

void
link_kdf(uint8_t out[LINK_KEY_BYTES], const uint8_t key[LINK_KEY_BYTES],
    const char *label, const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, key, LINK_KEY_BYTES, LINK_KEY_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)label,
	    strlen(label) + 1);
	if (alen)
		crypto_generichash_update(&st, a, alen);
	if (blen)
		crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, out, LINK_KEY_BYTES);
}

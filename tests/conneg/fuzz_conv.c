/* libFuzzer target for content negotiation and conversion: the MIME
 * conversion engine (conv_run under DRUCOF and CONPERM for a text-only and
 * an image-limited recipient), lossless re-encoding (mime_pack must always
 * unpack to its input; mime_unpack_max on arbitrary packed streams stays
 * within its cap), capability filters and capability tables.
 *   cmake -DSKYWAVE_FUZZ=ON -DCMAKE_C_COMPILER=clang; ./fuzz_conv corpus/
 * The first input byte picks the target. The default suite runs the same
 * engines on random and mutated input for a few seconds (test_fuzz.c). */
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "gateway/air/mime_reencode.h"
#include "gateway/conneg/caps.h"
#include "gateway/conneg/conneg.h"
#include "gateway/conneg/conv.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct caps_filter *text_only, *small_images;

static void
once(void)
{
	if (text_only != NULL)
		return;
	gw_log_set_stderr(false);
	conv_init();
	if (caps_filter_parse("(&(type=[text/plain])(charset=[us-ascii,"
	    "utf-8])(message-size<=20000))", &text_only, NULL) != 0 ||
	    caps_filter_parse("(|(type=text/*)(&(type=image/jpeg)"
	    "(width<=64)(height<=64)))", &small_images, NULL) != 0)
		abort();
}

static void
convert(const uint8_t *p, size_t n, bool conperm, bool drucof,
    const struct caps_filter *caps)
{
	struct conv_policy pol = { conperm, drucof, "fuzz.example",
		1795000000 };
	struct conv_report rep;
	struct buf out = BUF_INIT;

	if (conv_run(p, n, &pol, caps, &out, &rep) == 0) {
		if ((rep.result == CONV_CONVERTED) != (out.len > 0))
			abort();
		if (rep.result == CONV_FAILED && (rep.status == NULL ||
		    rep.status[0] != '5'))
			abort();
	}
	buf_fini(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a = BUF_INIT, b = BUF_INIT;

	once();
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (data[0] % 5) {
	case 0:
		convert(p, n, false, true, text_only);
		break;
	case 1:
		convert(p, n, true, data[0] & 8, small_images);
		break;
	case 2:
		mime_pack(p, n, &a, NULL);
		if (mime_unpack(a.data, a.len, &b) != 0 || b.len != n ||
		    (n > 0 && memcmp(b.data, p, n) != 0))
			abort();
		break;
	case 3:
		if (mime_unpack_max(p, n, 1u << 16, &a) == 0 &&
		    a.len > (1u << 16))
			abort();
		break;
	case 4: {
		char *t = malloc(n + 1);
		struct caps_filter *f = NULL;
		struct conneg_table *tab = NULL;
		memcpy(t, p, n);
		t[n] = '\0';
		if (caps_filter_parse(t, &f, NULL) == 0) {
			struct caps_fc fc;
			caps_fc_init(&fc);
			caps_fc_set_str(&fc, "type", "text/plain");
			caps_fc_set_num(&fc, "size", 100);
			(void)caps_filter_match(f, &fc);
			caps_filter_free(f);
		}
		if (conneg_table_parse("fuzz", t, &tab, NULL, 0) == 0) {
			struct buf fmt = BUF_INIT;
			struct conneg_table *again = NULL;
			conneg_table_format(tab, &fmt);
			/* what we publish, the far side must read back */
			if (conneg_table_parse("again", buf_cstr(&fmt), &again,
			    NULL, 0) != 0 || conneg_table_digest(again) !=
			    conneg_table_digest(tab))
				abort();
			conneg_table_free(again);
			conneg_table_free(tab);
			buf_fini(&fmt);
		}
		free(t);
		break;
	}
	}
	buf_fini(&a);
	buf_fini(&b);
	return 0;
}

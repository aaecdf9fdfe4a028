/*
 * conv_image.c - image reduction for content conversion.
 *
 * Contract: pure, thread-safe (no shared state; libjpeg error exits are
 * caught per call with setjmp). All memory is freed before return.
 */
#include "gateway/conneg/conv_image.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"

#include <stdio.h> /* before jpeglib.h, which uses FILE */

#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool
is_jpeg(const char *type)
{
	return strcasecmp(type, "image/jpeg") == 0 ||
	    strcasecmp(type, "image/pjpeg") == 0 ||
	    strcasecmp(type, "image/jpg") == 0;
}

static bool
is_png(const char *type)
{
	return strcasecmp(type, "image/png") == 0;
}

bool
conv_image_supported(const char *type)
{
	return type != NULL && (is_jpeg(type) || is_png(type));
}

/* ---- JPEG ---- */

struct jerr {
	struct jpeg_error_mgr mgr;
	jmp_buf jb;
};

static void
jerr_exit(j_common_ptr c)
{
	struct jerr *e = (struct jerr *)(void *)c->err;
	longjmp(e->jb, 1);
}

static void
jerr_quiet(j_common_ptr c, int level)
{
	(void)c;
	(void)level;
}

struct img {
	uint8_t *px; /* RGB, 3 bytes per pixel */
	uint32_t w, h;
};

static int
jpeg_decode(const uint8_t *p, size_t n, struct img *im, bool header_only)
{
	struct jpeg_decompress_struct d;
	struct jerr je;
	/* volatile: changed between setjmp and longjmp */
	uint8_t *volatile px = NULL;
	memset(&d, 0, sizeof(d));
	d.err = jpeg_std_error(&je.mgr);
	je.mgr.error_exit = jerr_exit;
	je.mgr.emit_message = jerr_quiet;
	if (setjmp(je.jb)) {
		jpeg_destroy_decompress(&d);
		free(px);
		return GW_ECORRUPT;
	}
	jpeg_create_decompress(&d);
	jpeg_mem_src(&d, p, (unsigned long)n);
	if (jpeg_read_header(&d, TRUE) != JPEG_HEADER_OK) {
		jpeg_destroy_decompress(&d);
		return GW_ECORRUPT;
	}
	im->w = d.image_width;
	im->h = d.image_height;
	if (header_only) {
		jpeg_destroy_decompress(&d);
		return 0;
	}
	if ((uint64_t)im->w * im->h > CONV_IMAGE_MAX_PIXELS ||
	    im->w == 0 || im->h == 0) {
		jpeg_destroy_decompress(&d);
		return GW_ETOOBIG;
	}
	d.out_color_space = JCS_RGB;
	jpeg_start_decompress(&d);
	if (d.output_components != 3) {
		jpeg_destroy_decompress(&d);
		return GW_ECORRUPT;
	}
	px = xmalloc((size_t)d.output_width * d.output_height * 3);
	while (d.output_scanline < d.output_height) {
		JSAMPROW row = px + (size_t)d.output_scanline *
		    d.output_width * 3;
		jpeg_read_scanlines(&d, &row, 1);
	}
	im->w = d.output_width;
	im->h = d.output_height;
	jpeg_finish_decompress(&d);
	jpeg_destroy_decompress(&d);
	im->px = px;
	return 0;
}

static int
jpeg_encode(const struct img *im, int quality, struct buf *out)
{
	struct jpeg_compress_struct c;
	struct jerr je;
	unsigned char *volatile mem = NULL;
	unsigned long memlen = 0;
	memset(&c, 0, sizeof(c));
	c.err = jpeg_std_error(&je.mgr);
	je.mgr.error_exit = jerr_exit;
	je.mgr.emit_message = jerr_quiet;
	if (setjmp(je.jb)) {
		jpeg_destroy_compress(&c);
		free(mem);
		return GW_EINTERNAL;
	}
	jpeg_create_compress(&c);
	unsigned char *m = NULL;
	jpeg_mem_dest(&c, &m, &memlen);
	c.image_width = im->w;
	c.image_height = im->h;
	c.input_components = 3;
	c.in_color_space = JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, quality, TRUE);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		JSAMPROW row = im->px + (size_t)c.next_scanline * im->w * 3;
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	mem = m;
	jpeg_destroy_compress(&c);
	buf_reset(out);
	buf_append(out, mem, memlen);
	free(mem);
	return 0;
}

/* ---- PNG (libpng's simplified API) ---- */

static int
png_decode(const uint8_t *p, size_t n, struct img *im, bool header_only)
{
	png_image pi;
	memset(&pi, 0, sizeof(pi));
	pi.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&pi, p, n))
		return GW_ECORRUPT;
	im->w = pi.width;
	im->h = pi.height;
	if (header_only) {
		png_image_free(&pi);
		return 0;
	}
	if ((uint64_t)im->w * im->h > CONV_IMAGE_MAX_PIXELS ||
	    im->w == 0 || im->h == 0) {
		png_image_free(&pi);
		return GW_ETOOBIG;
	}
	pi.format = PNG_FORMAT_RGB;
	im->px = xmalloc(PNG_IMAGE_SIZE(pi));
	png_color white = { 255, 255, 255 };
	if (!png_image_finish_read(&pi, &white, im->px, 0, NULL)) {
		png_image_free(&pi);
		free(im->px);
		im->px = NULL;
		return GW_ECORRUPT;
	}
	return 0;
}

static int
png_encode(const struct img *im, struct buf *out)
{
	png_image pi;
	memset(&pi, 0, sizeof(pi));
	pi.version = PNG_IMAGE_VERSION;
	pi.width = im->w;
	pi.height = im->h;
	pi.format = PNG_FORMAT_RGB;
	png_alloc_size_t len = 0;
	if (!png_image_write_to_memory(&pi, NULL, &len, 0, im->px, 0, NULL))
		return GW_EINTERNAL;
	buf_reset(out);
	buf_reserve(out, len);
	if (!png_image_write_to_memory(&pi, out->data, &len, 0, im->px, 0,
	    NULL))
		return GW_EINTERNAL;
	out->len = len;
	out->data[len] = '\0';
	return 0;
}

int
conv_image_probe(const char *type, const uint8_t *p, size_t n, uint32_t *w,
    uint32_t *h)
{
	struct img im = { NULL, 0, 0 };
	int rc;
	if (is_jpeg(type))
		rc = jpeg_decode(p, n, &im, true);
	else if (is_png(type))
		rc = png_decode(p, n, &im, true);
	else
		return GW_EUNSUPP;
	*w = im.w;
	*h = im.h;
	return rc;
}

/* Area-average downscale of src into a new dw x dh image. */
static void
scale(const struct img *src, uint32_t dw, uint32_t dh, struct img *dst)
{
	dst->w = dw;
	dst->h = dh;
	dst->px = xmalloc((size_t)dw * dh * 3);
	for (uint32_t y = 0; y < dh; y++) {
		uint32_t y0 = (uint32_t)((uint64_t)y * src->h / dh);
		uint32_t y1 = (uint32_t)((uint64_t)(y + 1) * src->h / dh);
		if (y1 <= y0)
			y1 = y0 + 1;
		for (uint32_t x = 0; x < dw; x++) {
			uint32_t x0 = (uint32_t)((uint64_t)x * src->w / dw);
			uint32_t x1 = (uint32_t)((uint64_t)(x + 1) * src->w /
			    dw);
			if (x1 <= x0)
				x1 = x0 + 1;
			uint64_t acc[3] = { 0, 0, 0 }, cnt = 0;
			for (uint32_t sy = y0; sy < y1; sy++) {
				const uint8_t *r = src->px +
				    ((size_t)sy * src->w + x0) * 3;
				for (uint32_t sx = x0; sx < x1; sx++) {
					acc[0] += r[0];
					acc[1] += r[1];
					acc[2] += r[2];
					r += 3;
					cnt++;
				}
			}
			uint8_t *d = dst->px + ((size_t)y * dw + x) * 3;
			for (int k = 0; k < 3; k++)
				d[k] = (uint8_t)(acc[k] / cnt);
		}
	}
}

int
conv_image_fit(const char *type, const uint8_t *p, size_t n,
    conv_image_fits_fn fits, void *arg, struct buf *out,
    const char **type_out, uint32_t *w, uint32_t *h)
{
	static const double scales[] = { 1.0, 0.75, 0.5, 0.35, 0.25, 0.18,
		0.125, 0.09, 0.0625, 0.045, 0.03125 };
	static const int qualities[] = { 85, 65, 45, 30 };
	struct img src = { NULL, 0, 0 };
	int rc;
	if (is_jpeg(type))
		rc = jpeg_decode(p, n, &src, false);
	else if (is_png(type))
		rc = png_decode(p, n, &src, false);
	else
		return GW_EUNSUPP;
	if (rc < 0)
		return rc;
	/* Same type first (least surprise), then the other one. */
	const char *types[2];
	types[0] = is_png(type) ? "image/png" : "image/jpeg";
	types[1] = is_png(type) ? "image/jpeg" : "image/png";
	rc = GW_ELIMIT;
	for (size_t si = 0; si < GW_ARRAY_LEN(scales) && rc == GW_ELIMIT;
	    si++) {
		uint32_t dw = (uint32_t)(src.w * scales[si] + 0.5);
		uint32_t dh = (uint32_t)(src.h * scales[si] + 0.5);
		if (dw == 0)
			dw = 1;
		if (dh == 0)
			dh = 1;
		if (si > 0 && dw == src.w && dh == src.h)
			continue;
		struct img sc = { NULL, 0, 0 };
		bool scaled = false;
		for (size_t ti = 0; ti < 2 && rc == GW_ELIMIT; ti++) {
			if (!fits(arg, types[ti], dw, dh,
			    CONV_IMAGE_SIZE_UNKNOWN))
				continue;
			if (!scaled) {
				if (si == 0) {
					sc = src;
					sc.px = xmemdup(src.px,
					    (size_t)src.w * src.h * 3);
				} else {
					scale(&src, dw, dh, &sc);
				}
				scaled = true;
			}
			bool jpg = strcmp(types[ti], "image/jpeg") == 0;
			size_t nq = jpg ? GW_ARRAY_LEN(qualities) : 1;
			for (size_t qi = 0; qi < nq; qi++) {
				int erc = jpg ? jpeg_encode(&sc, qualities[qi],
				    out) : png_encode(&sc, out);
				if (erc < 0) {
					rc = erc;
					break;
				}
				if (fits(arg, types[ti], dw, dh, out->len)) {
					*type_out = types[ti];
					*w = dw;
					*h = dh;
					rc = 0;
					break;
				}
			}
		}
		free(sc.px);
	}
	free(src.px);
	if (rc < 0)
		buf_reset(out);
	return rc;
}

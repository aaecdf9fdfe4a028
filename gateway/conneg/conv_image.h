/*
 * conv_image.h - reduce JPEG/PNG images until a recipient can use them.
 *
 * Pure; libjpeg(-turbo) and libpng do the coding. Images are decoded to
 * 8-bit RGB (PNG transparency is composited onto white), scaled down with
 * an area-average filter and re-encoded, trying the least lossy candidate
 * first: the original type at full size (JPEG at lower qualities), then
 * smaller sizes, then the other type.
 */
#ifndef GW_GATEWAY_CONV_IMAGE_H
#define GW_GATEWAY_CONV_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define CONV_IMAGE_MAX_PIXELS (40u * 1000u * 1000u) /* decode bomb guard */
#define CONV_IMAGE_SIZE_UNKNOWN SIZE_MAX

/* True for "image/jpeg", "image/pjpeg", "image/png". */
bool conv_image_supported(const char *type);

/* Width and height from the headers. 0, GW_EUNSUPP (type), GW_ECORRUPT. */
int conv_image_probe(const char *type, const uint8_t *p, size_t n,
    uint32_t *w, uint32_t *h);

/* May the recipient use an image of this type and size? bytes is
 * CONV_IMAGE_SIZE_UNKNOWN for a dimension-only pre-check. */
typedef bool (*conv_image_fits_fn)(void *arg, const char *type, uint32_t w,
    uint32_t h, size_t bytes);

/*
 * Find the least lossy reduced form that fits. On success out receives the
 * new image, *type_out its type (a static string), *w and *h its size.
 * Returns 0, GW_EUNSUPP (not JPEG/PNG), GW_ECORRUPT (cannot decode),
 * GW_ETOOBIG (over CONV_IMAGE_MAX_PIXELS), GW_ELIMIT (nothing fits).
 */
int conv_image_fit(const char *type, const uint8_t *p, size_t n,
    conv_image_fits_fn fits, void *arg, struct buf *out,
    const char **type_out, uint32_t *w, uint32_t *h);

#endif

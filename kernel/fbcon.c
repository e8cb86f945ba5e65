/* The framebuffer console (fbcon.h): 8x16 glyphs from a PSF font of Debian's
 * console-setup-linux, converted at build time (fjqemu.psffont -> build/gen/font8x16.c),
 * light grey on black, 32-bit pixels. The UEFI loader maps the framebuffer identity. */
#include "fbcon.h"

#include <stddef.h>
#include <stdint.h>

#include "console.h"
#include "string.h"

#define GLYPH_W 8
#define GLYPH_H 16
#define FG 0x00aaaaaau /* the same grey in RGBX and BGRX */
#define BG 0x00000000u

extern const uint8_t font8x16[256][GLYPH_H];

static struct {
    uint8_t *base;
    uint32_t pitch;
    unsigned cols, rows, x, y;
} fb;

static void draw(unsigned char c, unsigned col, unsigned row)
{
    const uint8_t *glyph = font8x16[c];
    for (unsigned gy = 0; gy < GLYPH_H; gy++) {
        uint32_t *px = (uint32_t *)(fb.base + (row * GLYPH_H + gy) * fb.pitch) + col * GLYPH_W;
        for (unsigned gx = 0; gx < GLYPH_W; gx++)
            px[gx] = (glyph[gy] & (0x80u >> gx)) ? FG : BG;
    }
}

static void newline(void)
{
    fb.x = 0;
    if (++fb.y < fb.rows)
        return;
    /* Scroll one text row up and clear the last one. */
    size_t row_bytes = (size_t)fb.pitch * GLYPH_H;
    memmove(fb.base, fb.base + row_bytes, row_bytes * (fb.rows - 1));
    memset(fb.base + row_bytes * (fb.rows - 1), 0, row_bytes);
    fb.y = fb.rows - 1;
}

static void fb_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') {
            newline();
        } else if (c == '\r') {
            fb.x = 0;
        } else if (c == '\b') {
            if (fb.x)
                fb.x--;
        } else {
            draw(c, fb.x, fb.y);
            if (++fb.x == fb.cols)
                newline();
        }
    }
}

int fbcon_init(const struct boot_info *bi)
{
    if (bi == NULL || bi->magic != BOOTINFO_MAGIC || bi->fb_format == FB_NONE ||
        bi->fb_bpp != 32 || bi->fb_width < GLYPH_W || bi->fb_height < GLYPH_H)
        return 0;
    fb.base = (uint8_t *)(uintptr_t)bi->fb_addr;
    fb.pitch = bi->fb_pitch;
    fb.cols = bi->fb_width / GLYPH_W;
    fb.rows = bi->fb_height / GLYPH_H;
    fb.x = fb.y = 0;
    memset(fb.base, 0, (size_t)fb.pitch * bi->fb_height);
    console_set_screen(fb_write);
    return 1;
}

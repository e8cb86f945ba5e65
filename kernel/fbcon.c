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

/* The 16 VGA text colours as 0xRRGGBB (the panic screen's attributes). */
static const uint32_t vga_rgb[16] = {
    0x000000, 0x0000aa, 0x00aa00, 0x00aaaa, 0xaa0000, 0xaa00aa, 0xaa5500, 0xaaaaaa,
    0x555555, 0x5555ff, 0x55ff55, 0x55ffff, 0xff5555, 0xff55ff, 0xffff55, 0xffffff,
};

extern const uint8_t font8x16[256][GLYPH_H];

static struct {
    uint8_t *base;
    uint32_t pitch;
    unsigned cols, rows, x, y;
    int rgbx; /* red in byte 0: 0xRRGGBB values are swapped to 0xBBGGRR */
} fb;

static uint32_t pixel(uint32_t rgb)
{
    if (!fb.rgbx)
        return rgb; /* BGRX: a little-endian 0x00RRGGBB is the bytes B, G, R, X */
    return (rgb & 0xff) << 16 | (rgb & 0xff00) | (rgb >> 16 & 0xff);
}

static void draw_in(unsigned char c, unsigned col, unsigned row, uint32_t fg, uint32_t bg)
{
    const uint8_t *glyph = font8x16[c];
    for (unsigned gy = 0; gy < GLYPH_H; gy++) {
        uint32_t *px = (uint32_t *)(fb.base + (row * GLYPH_H + gy) * fb.pitch) + col * GLYPH_W;
        for (unsigned gx = 0; gx < GLYPH_W; gx++)
            px[gx] = (glyph[gy] & (0x80u >> gx)) ? fg : bg;
    }
}

static void draw(unsigned char c, unsigned col, unsigned row)
{
    draw_in(c, col, row, FG, BG);
}

int fbcon_put_row(unsigned row, uint8_t attr, const char *text, size_t len, unsigned cols)
{
    if (fb.base == NULL || row >= fb.rows)
        return 0;
    uint32_t fg = pixel(vga_rgb[attr & 0xf]), bg = pixel(vga_rgb[attr >> 4 & 0x7]);
    for (unsigned col = 0; col < cols && col < fb.cols; col++)
        draw_in(col < len ? (unsigned char)text[col] : ' ', col, row, fg, bg);
    return 1;
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
    fb.rgbx = bi->fb_format == FB_RGBX;
    memset(fb.base, 0, (size_t)fb.pitch * bi->fb_height);
    console_set_screen(fb_write);
    return 1;
}

/* The MBR's boot_layout table: where stage 1 finds stage 2 and stage 2 the kernel.
 *
 * The image builder (qemu/fjqemu/image.py) fills it at BOOT_LAYOUT (layout.h), inside the
 * MBR just below the partition table, from the sizes of the files it puts on the disk;
 * stage1.asm reserves it as zeros. */
#ifndef FARJUMP_BOOT_LAYOUT_H
#define FARJUMP_BOOT_LAYOUT_H

#include <stdint.h>

#define LAYOUT_MAGIC 0x4a46u      /* "FJ" in memory order */
#define STAGE2_MAGIC 0x32534a46u  /* "FJS2" in memory order */
#define STAGE2_MAGIC_OFFSET 4

struct boot_layout {
    uint16_t magic;          /* LAYOUT_MAGIC */
    uint32_t stage2_lba;     /* first sector of stage 2 */
    uint16_t stage2_sectors; /* its length in 512-byte sectors */
    uint32_t kernel_lba;     /* first sector of the kernel ELF file */
    uint32_t kernel_bytes;   /* its length in bytes */
} __attribute__((packed));

/* The first bytes of stage 2. It starts with a magic breakpoint and a short jump over the
 * rest (4 bytes), then STAGE2_MAGIC, which stage 1 checks: a missing or foreign stage 2
 * gives a message, not a jump into garbage. Then two CRC-32s (IEEE 802.3, as zlib.crc32)
 * that the image builder writes: of stage 2 after this header, checked by stage 2 itself
 * ("stage 2 corrupted"), and of the kernel file, checked by the loader ("kernel file
 * corrupted"). They live here rather than in boot_layout because the MBR has no room left
 * for them (stage 1 has 2 bytes free). */
struct stage2_header {
    uint8_t entry[4];       /* xchg bx, bx; jmp short over the header */
    uint32_t magic;         /* STAGE2_MAGIC */
    uint32_t stage2_crc32;  /* of stage 2's bytes after this header */
    uint32_t kernel_crc32;  /* of the kernel file, kernel_bytes long */
} __attribute__((packed));

#endif

/* The kernel ELF's checks shared by every loader (elfcheck.h). */
#include "elfcheck.h"

#include "layout.h"
#include "paging.h"
#include "string.h"

#define HIGHER_HALF KERNEL_VMA

static const char *machine_name(unsigned m)
{
    switch (m) {
    case 3: return "i386";
    case 8: return "MIPS";
    case 20: return "PowerPC";
    case 40: return "ARM";
    case 50: return "IA-64";
    case 183: return "AArch64";
    case 243: return "RISC-V";
    default: return "unknown";
    }
}

const struct elf64_ehdr *elf_check_header(const uint8_t *file, uint64_t size)
{
    const struct elf64_ehdr *eh = (const struct elf64_ehdr *)file;
    if (size < sizeof(*eh))
        elf_fail("kernel file is %lu bytes, too small for an ELF header (%lu bytes)", size,
                 sizeof(*eh));
    if (memcmp(eh->e_ident, "\x7f" "ELF", 4) != 0)
        elf_fail("kernel is not an ELF file (starts %02x %02x %02x %02x, want 7f 45 4c 46)",
                 file[0], file[1], file[2], file[3]);
    if (eh->e_ident[4] != ELFCLASS64)
        elf_fail("kernel is a %s ELF (EI_CLASS %u); farjump needs ELFCLASS64 (2)",
                 eh->e_ident[4] == 1 ? "32-bit" : "bad", eh->e_ident[4]);
    if (eh->e_ident[5] != ELFDATA2LSB)
        elf_fail("kernel ELF is not little-endian (EI_DATA %u, want 1)", eh->e_ident[5]);
    if (eh->e_machine != EM_X86_64)
        elf_fail("kernel ELF is for machine %u (%s), not x86-64 (e_machine 62)", eh->e_machine,
                 machine_name(eh->e_machine));
    if (eh->e_type != ET_EXEC)
        elf_fail("kernel ELF type is %u, not an executable (ET_EXEC 2)", eh->e_type);
    if (eh->e_phentsize != sizeof(struct elf64_phdr) || eh->e_phnum == 0)
        elf_fail("kernel ELF has %u program headers of %u bytes (want >0 of %lu)",
                 eh->e_phnum, eh->e_phentsize, sizeof(struct elf64_phdr));
    if (eh->e_phoff > size || (uint64_t)eh->e_phnum * eh->e_phentsize > size - eh->e_phoff)
        elf_fail("kernel program headers (offset 0x%lx, %u entries) run past the end of the "
                 "%lu-byte file: truncated?", eh->e_phoff, eh->e_phnum, size);
    return eh;
}


void elf_check_segment(const struct elf64_phdr *ph, unsigned i, uint64_t size)
{
    if (ph->p_filesz > ph->p_memsz)
        elf_fail("segment %u: file size 0x%lx larger than memory size 0x%lx", i, ph->p_filesz,
                 ph->p_memsz);
    if (ph->p_filesz != 0 && ph->p_offset >= size)
        elf_fail("segment %u: p_offset 0x%lx is past the end of the kernel file (0x%lx bytes), "
                 "so its 0x%lx bytes are not in the file: bad p_offset?", i, ph->p_offset, size,
                 ph->p_filesz);
    if (ph->p_offset > size || ph->p_filesz > size - ph->p_offset)
        elf_fail("segment %u: file bytes 0x%lx..0x%lx, but the kernel file ends at 0x%lx "
                 "(0x%lx bytes missing): truncated?", i, ph->p_offset,
                 ph->p_offset + ph->p_filesz, size, ph->p_offset + ph->p_filesz - size);
    uint64_t end = ph->p_paddr + ph->p_memsz;
    if (ph->p_paddr < KERNEL_PHYS_MIN || end < ph->p_paddr || end > IDENTITY_MAP_END)
        elf_fail("segment %u: physical 0x%lx..0x%lx is outside the memory the loader may use "
                 "(0x%x..0x%x): it %s", i, ph->p_paddr, end, KERNEL_PHYS_MIN, IDENTITY_MAP_END,
                 ph->p_paddr < KERNEL_PHYS_MIN
                     ? "starts below KERNEL_PHYS_MIN (1 MiB; below is the loader's own memory)"
                     : "ends above IDENTITY_MAP_END (the 1 GiB identity map)");
    if (ph->p_vaddr < HIGHER_HALF || ph->p_vaddr + ph->p_memsz < ph->p_vaddr)
        elf_fail("segment %u: virtual 0x%lx is not in the higher half (0x%lx and up)", i,
                 ph->p_vaddr, HIGHER_HALF);
    if ((ph->p_vaddr ^ ph->p_paddr) & (PAGE_SIZE - 1))
        elf_fail("segment %u: virtual 0x%lx and physical 0x%lx differ within a page", i,
                 ph->p_vaddr, ph->p_paddr);
}

int elf_loadable(const struct elf64_phdr *ph)
{
    return ph->p_type == PT_LOAD && ph->p_memsz != 0;
}

static uint64_t page_down(uint64_t a) { return a & ~(uint64_t)(PAGE_SIZE - 1); }
static uint64_t page_up(uint64_t a) { return page_down(a + PAGE_SIZE - 1); }

/* Segments copied on top of each other would silently corrupt the kernel; segments that
 * share a virtual page cannot both be mapped (one page, one physical frame, one set of
 * permissions). Both are checked before anything is copied, so neither fails half-way. */
void elf_check_overlaps(const struct elf64_phdr *ph, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = i + 1; j < n; j++) {
            if (!elf_loadable(&ph[i]) || !elf_loadable(&ph[j]))
                continue;
            if (ph[i].p_paddr < ph[j].p_paddr + ph[j].p_memsz &&
                ph[j].p_paddr < ph[i].p_paddr + ph[i].p_memsz)
                elf_fail("segments %u and %u overlap in physical memory (0x%lx..0x%lx and "
                         "0x%lx..0x%lx)", i, j, ph[i].p_paddr, ph[i].p_paddr + ph[i].p_memsz,
                         ph[j].p_paddr, ph[j].p_paddr + ph[j].p_memsz);
            if (page_down(ph[i].p_vaddr) < page_up(ph[j].p_vaddr + ph[j].p_memsz) &&
                page_down(ph[j].p_vaddr) < page_up(ph[i].p_vaddr + ph[i].p_memsz))
                elf_fail("segments %u and %u share a virtual page (0x%lx..0x%lx and "
                         "0x%lx..0x%lx): each 4 KiB page maps one segment; link with "
                         "-z max-page-size=0x1000 and page-aligned segments", i, j,
                         ph[i].p_vaddr, ph[i].p_vaddr + ph[i].p_memsz, ph[j].p_vaddr,
                         ph[j].p_vaddr + ph[j].p_memsz);
        }
}

void elf_check_segments(const struct elf64_ehdr *eh, uint64_t size,
                        void (*extra)(const struct elf64_phdr *ph, unsigned i, const void *ctx),
                        const void *ctx, uint64_t *lo, uint64_t *hi)
{
    const struct elf64_phdr *ph =
        (const struct elf64_phdr *)((const uint8_t *)eh + eh->e_phoff);
    int entry_ok = 0;
    *lo = UINT64_MAX;
    *hi = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (!elf_loadable(&ph[i]))
            continue;
        elf_check_segment(&ph[i], i, size);
        if (extra)
            extra(&ph[i], i, ctx);
        if (ph[i].p_paddr < *lo)
            *lo = ph[i].p_paddr;
        if (ph[i].p_paddr + ph[i].p_memsz > *hi)
            *hi = ph[i].p_paddr + ph[i].p_memsz;
        if ((ph[i].p_flags & PF_X) && eh->e_entry >= ph[i].p_vaddr &&
            eh->e_entry < ph[i].p_vaddr + ph[i].p_memsz)
            entry_ok = 1;
    }
    if (*hi == 0)
        elf_fail("kernel ELF has no PT_LOAD segment (e_phnum %u)", eh->e_phnum);
    if (!entry_ok)
        elf_fail("kernel entry 0x%lx is not inside an executable (PF_X) PT_LOAD segment",
                 eh->e_entry);
    elf_check_overlaps(ph, eh->e_phnum);
}

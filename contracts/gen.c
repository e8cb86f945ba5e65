/* asm-offsets style generator input: never linked, never run.
 *
 * `gcc -S` turns each marker below into a line "->KIND ..." of assembly text, with every
 * constant evaluated by the compiler from the contract headers; qemu/fjqemu/gencontracts.py
 * turns those lines into build/gen/contracts.inc (NASM), build/gen/layout.ld (ld) and
 * build/gen/farjump_contracts.py (host tools, tests, GDB). So the headers are the one
 * definition and nothing is copied by hand.
 *
 * Markers (fields separated by tabs; AT&T syntax prints a constant as $N):
 *   ->LAYOUT name value          memory layout: NASM, ld and Python
 *   ->CONST name value           NASM and Python
 *   ->BYTES name value size      a magic number: NASM number, Python bytes
 *   ->STRUCT name size           then its fields in order:
 *   ->FIELD struct field offset size
 *   ->EXC vector has_error_code mnemonic name
 *   ->TL index id short_name text */
#include <stddef.h>

#include "boot_layout.h"
#include "bootinfo.h"
#include "exceptions.h"
#include "ksymtab.h"
#include "layout.h"
#include "multiboot.h"
#include "paging.h"
#include "selectors.h"
#include "smp.h"

/* The # operators stay in the macros that take a contract's name: an argument passed on
 * to another macro is expanded first, and the marker would name the value. */
#define MARK(kind, name, value) \
    __asm__ volatile("\n->" kind "\t" name "\t%0" : : "i"((unsigned long long)(value)))
#define LAYOUT(name) MARK("LAYOUT", #name, name)
#define CONST(name) MARK("CONST", #name, name)
#define BYTES(name, size) \
    __asm__ volatile("\n->BYTES\t" #name "\t%0\t%1" : : "i"((unsigned long long)(name)), "i"(size))
#define STRUCT(s) \
    __asm__ volatile("\n->STRUCT\t" #s "\t%0" : : "i"(sizeof(struct s)))
#define FIELD(s, f)                                                              \
    __asm__ volatile("\n->FIELD\t" #s "\t" #f "\t%0\t%1"                       \
                     : : "i"(offsetof(struct s, f)), "i"(sizeof(((struct s *)0)->f)))
#define EXC(vector, mnemonic, name, ec) \
    __asm__ volatile("\n->EXC\t%0\t%1\t" mnemonic "\t" name : : "i"(vector), "i"(ec));
#define TL(index, id, short_name, text) \
    __asm__ volatile("\n->TL\t%0\t" #id "\t" #short_name "\t" text : : "i"(index));

void contracts(void);
void contracts(void)
{
    LAYOUT(STAGE1_ADDR);
    LAYOUT(BOOTINFO_ADDR);
    LAYOUT(BOOT_LAYOUT);
    LAYOUT(STACK_TOP);
    LAYOUT(STAGE1_VARS);
    LAYOUT(STAGE2_ADDR);
    LAYOUT(STAGE2_END);
    LAYOUT(PT_BASE);
    LAYOUT(PT_END);
    LAYOUT(KERNEL_BUF);
    LAYOUT(KERNEL_BUF_END);
    LAYOUT(KERNEL_PHYS_MIN);
    LAYOUT(IDENTITY_MAP_END);
    LAYOUT(KERNEL_PHYS);
    LAYOUT(KERNEL_VMA);
    LAYOUT(AP_TRAMPOLINE);
    LAYOUT(AP_PARAMS);
    LAYOUT(AP_TRAMPOLINE_END);
    CONST(AP_SIPI_VECTOR);
    CONST(AP_MAX_CPUS);
    CONST(AP_STACK_SIZE);
    STRUCT(ap_params);
    FIELD(ap_params, cr0);
    FIELD(ap_params, cr3);
    FIELD(ap_params, cr4);
    FIELD(ap_params, efer);
    FIELD(ap_params, entry);
    FIELD(ap_params, stack_top);
    FIELD(ap_params, cpu);
    FIELD(ap_params, arrived);

    BYTES(LAYOUT_MAGIC, sizeof(((struct boot_layout *)0)->magic));
    BYTES(STAGE2_MAGIC, 4);
    CONST(STAGE2_MAGIC_OFFSET);
    STRUCT(stage2_header);
    FIELD(stage2_header, entry);
    FIELD(stage2_header, magic);
    FIELD(stage2_header, stage2_crc32);
    FIELD(stage2_header, kernel_crc32);
    STRUCT(boot_layout);
    FIELD(boot_layout, magic);
    FIELD(boot_layout, stage2_lba);
    FIELD(boot_layout, stage2_sectors);
    FIELD(boot_layout, kernel_lba);
    FIELD(boot_layout, kernel_bytes);

    CONST(BOOTINFO_MAGIC);
    CONST(BOOTINFO_E820_MAX);
    CONST(BOOTINFO_TIMELINE_MAX);
    MARK("CONST", "E820_ENTRY_SIZE", sizeof(struct e820_entry));
    CONST(A20_ALREADY);
    CONST(A20_BIOS);
    CONST(A20_KBC);
    CONST(A20_FAST);
    STRUCT(boot_info);
    FIELD(boot_info, magic);
    FIELD(boot_info, size);
    FIELD(boot_info, boot_drive);
    FIELD(boot_info, a20_method);
    FIELD(boot_info, nx);
    FIELD(boot_info, boot_path);
    CONST(BOOT_PATH_BIOS);
    CONST(BOOT_PATH_MULTIBOOT1);
    CONST(BOOT_PATH_MULTIBOOT2);
    CONST(BOOT_PATH_UEFI);
    CONST(MB1_HEADER_MAGIC);
    CONST(MB1_BOOT_MAGIC);
    CONST(MB1_HEADER_FLAGS);
    CONST(MB2_HEADER_MAGIC);
    CONST(MB2_BOOT_MAGIC);
    CONST(MB2_ARCH_I386);
    CONST(MB2_HEADER_TAG_END);
    CONST(MB2_HEADER_TAG_ENTRY);
    FIELD(boot_info, e820_count);
    FIELD(boot_info, kernel_phys_start);
    FIELD(boot_info, kernel_phys_end);
    FIELD(boot_info, kernel_entry);
    FIELD(boot_info, e820);
    FIELD(boot_info, timeline_recorded);
    FIELD(boot_info, timeline_reserved);
    FIELD(boot_info, tsc_hz);
    FIELD(boot_info, timeline_tsc);
    FIELD(boot_info, fb_addr);
    FIELD(boot_info, fb_width);
    FIELD(boot_info, fb_height);
    FIELD(boot_info, fb_pitch);
    FIELD(boot_info, fb_bpp);
    FIELD(boot_info, fb_format);
    FIELD(boot_info, fb_reserved);
    FIELD(boot_info, acpi_rsdp);
    CONST(FB_NONE);
    CONST(FB_RGBX);
    CONST(FB_BGRX);
    TIMELINE_TABLE(TL)

    EXCEPTION_TABLE(EXC)
    CONST(EXCEPTION_ERROR_CODES);
    CONST(EXCEPTION_VECTORS);

    CONST(PTE_P);
    CONST(PTE_W);
    CONST(PTE_U);
    CONST(PTE_PWT);
    CONST(PTE_PCD);
    CONST(PTE_A);
    CONST(PTE_D);
    CONST(PTE_PS);
    CONST(PTE_G);
    CONST(PTE_PAT);
    CONST(PTE_PAT_LARGE);
    CONST(PTE_NX);
    CONST(PTE_ADDR_MASK);
    CONST(PAGE_SIZE);
    CONST(LARGE_PAGE_SIZE);

    CONST(SEL_CODE32);
    CONST(SEL_DATA32);
    CONST(SEL_CODE64);
    CONST(SEL_DATA64);
    CONST(SEL_TSS);

    BYTES(KSYMTAB_MAGIC, 4);
    CONST(KSYMTAB_SIZE);
    STRUCT(ksym_header);
    FIELD(ksym_header, magic);
    FIELD(ksym_header, count);
    FIELD(ksym_header, strings);
    FIELD(ksym_header, used);
    STRUCT(ksym);
    FIELD(ksym, address);
    FIELD(ksym, size);
    FIELD(ksym, name);
}

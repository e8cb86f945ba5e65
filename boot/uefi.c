/* farjump's UEFI loader (build/BOOTX64.EFI, a gnu-efi application; make efi): read the
 * unmodified kernel.elf from its own FAT volume, check it with the BIOS loader's checks
 * (common/elfcheck.c), place each PT_LOAD at its physical address with
 * AllocatePages(AllocateAddress), describe the GOP framebuffer, the ACPI RSDP and the
 * memory map (GetMemoryMap, in E820 terms) in struct boot_info at BOOTINFO_ADDR, exit boot services,
 * build the BIOS path's page tables (common/pagemap.c: the identity map at PT_BASE, the
 * kernel's 4 KiB pages text RX, rodata R, data RW+NX; the framebuffer RW+NX) and jump to
 * _start. docs/boot.md, "UEFI", tells the hand-off.
 *
 * Messages go to COM1 (common/kprintf.c, the screen sink left empty: there is no VGA text
 * mode); a failure is also shown on the firmware's console while it still exists. */
#include <efi.h>
#include <efilib.h>

#include <stdarg.h>

#include "bootinfo.h"
#include "console.h"
#include "cpu.h"
#include "elfcheck.h"
#include "kprintf.h"
#include "layout.h"
#include "pagemap.h"
#include "paging.h"
#include "string.h"

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab);

/* gnu-efi's link script: the image's first byte, at run time where the firmware put it. */
extern char ImageBase[];

/* make debug BOOT=uefi: the firmware picks the load address, so GDB can only place this
 * loader's symbols once it is known. Asked by QEMU's fw_cfg file opt/farjump/wait-for-gdb,
 * the loader says its ImageBase on COM1 and waits here until GDB clears this. */
volatile int uefi_gdb_wait;

#define EFER_MSR 0xc0000080u
#define EFER_NXE (1u << 11)

static int boot_services = 1;   /* until ExitBootServices succeeds */
static struct boot_info bi;     /* built here, copied to BOOTINFO_ADDR at the end */
static UINT8 map_buf[64 * 1024]; /* GetMemoryMap's buffer: no allocation before the exit */

static void no_screen(const char *s, size_t n)
{
    (void)s;
    (void)n;
}

void elf_fail(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kprintf("\nloader: %s\nloader: halted.\n", msg);
    if (boot_services) {
        CHAR16 wide[sizeof msg];
        unsigned i = 0;
        for (; msg[i] && i < sizeof msg - 1; i++)
            wide[i] = (CHAR16)(unsigned char)msg[i];
        wide[i] = 0;
        Print(L"farjump UEFI loader: %s\r\n", wide);
    }
    for (;;)
        __asm__ volatile("cli; hlt");
}

static void check(EFI_STATUS status, const char *what)
{
    if (EFI_ERROR(status))
        elf_fail("%s failed: EFI status 0x%lx", what, (unsigned long)status);
}

static uint8_t *read_kernel(EFI_HANDLE image, uint64_t *size)
{
    EFI_LOADED_IMAGE *li = NULL;
    check(BS->HandleProtocol(image, &LoadedImageProtocol, (void **)&li),
          "HandleProtocol(LoadedImage)");
    kprintf("UEFI loader: ImageBase 0x%lx (%lu bytes)\n", (unsigned long)li->ImageBase,
            (unsigned long)li->ImageSize);
    EFI_FILE_HANDLE root = LibOpenRoot(li->DeviceHandle);
    if (root == NULL)
        elf_fail("cannot open the file system this loader was read from");
    EFI_FILE_HANDLE f = NULL;
    check(root->Open(root, &f, L"\\kernel.elf", EFI_FILE_MODE_READ, 0),
          "opening \\kernel.elf on the boot volume");
    EFI_FILE_INFO *info = LibFileInfo(f);
    if (info == NULL)
        elf_fail("cannot read \\kernel.elf's size");
    UINTN n = info->FileSize;
    uint8_t *file = AllocatePool(n);
    if (file == NULL)
        elf_fail("no memory for \\kernel.elf (%lu bytes)", (unsigned long)n);
    check(f->Read(f, &n, file), "reading \\kernel.elf");
    if (n != info->FileSize)
        elf_fail("read %lu of \\kernel.elf's %lu bytes", (unsigned long)n,
                 (unsigned long)info->FileSize);
    *size = n;
    return file;
}

/* Check every segment (the BIOS loader's checks), then copy them to their physical
 * addresses, allocated from the firmware so nothing else lives there. */
static const struct elf64_ehdr *load_kernel(const uint8_t *file, uint64_t size)
{
    const struct elf64_ehdr *eh = elf_check_header(file, size);
    const struct elf64_phdr *ph = (const struct elf64_phdr *)(file + eh->e_phoff);
    uint64_t lo, hi;
    elf_check_segments(eh, size, NULL, NULL, &lo, &hi);

    EFI_PHYSICAL_ADDRESS at = lo & ~(PAGE_SIZE - 1);
    UINTN pages = (hi - at + PAGE_SIZE - 1) / PAGE_SIZE;
    EFI_STATUS st = BS->AllocatePages(AllocateAddress, EfiLoaderData, pages, &at);
    if (EFI_ERROR(st))
        elf_fail("physical 0x%lx..0x%lx for the kernel is not free (AllocatePages: EFI "
                 "status 0x%lx)", lo, hi, (unsigned long)st);
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (!elf_loadable(&ph[i]))
            continue;
        memcpy((void *)ph[i].p_paddr, file + ph[i].p_offset, ph[i].p_filesz);
        memset((void *)(ph[i].p_paddr + ph[i].p_filesz), 0, ph[i].p_memsz - ph[i].p_filesz);
    }
    bi.kernel_phys_start = lo;
    bi.kernel_phys_end = hi;
    bi.kernel_entry = eh->e_entry;
    kprintf("UEFI loader: kernel at physical 0x%lx..0x%lx, entry 0x%lx\n", lo, hi,
            eh->e_entry);
    return eh;
}

static void find_framebuffer(void)
{
    EFI_GUID gop_guid = EFI_GRAPHICS_OUTPUT_PROTOCOL_GUID;
    EFI_GRAPHICS_OUTPUT_PROTOCOL *gop = NULL;
    if (EFI_ERROR(BS->LocateProtocol(&gop_guid, NULL, (void **)&gop)) || gop == NULL) {
        kprintf("UEFI loader: no graphics output protocol: no screen\n");
        return;
    }
    EFI_GRAPHICS_OUTPUT_MODE_INFORMATION *info = gop->Mode->Info;
    if (info->PixelFormat == PixelRedGreenBlueReserved8BitPerColor)
        bi.fb_format = FB_RGBX;
    else if (info->PixelFormat == PixelBlueGreenRedReserved8BitPerColor)
        bi.fb_format = FB_BGRX;
    else {
        kprintf("UEFI loader: GOP pixel format %u has no linear framebuffer farjump draws on\n",
                (unsigned)info->PixelFormat);
        return;
    }
    bi.fb_addr = gop->Mode->FrameBufferBase;
    bi.fb_width = info->HorizontalResolution;
    bi.fb_height = info->VerticalResolution;
    bi.fb_pitch = info->PixelsPerScanLine * 4;
    bi.fb_bpp = 32;
    kprintf("UEFI loader: framebuffer %ux%u at 0x%lx (%s)\n", (unsigned)bi.fb_width,
            (unsigned)bi.fb_height, (unsigned long)bi.fb_addr,
            bi.fb_format == FB_RGBX ? "RGBX" : "BGRX");
}

/* The ACPI RSDP from the firmware's configuration table (UEFI 2.9 §4.6): the ACPI 2.0 entry,
 * else the 1.0 one. There is no BIOS area to search under UEFI: without this the kernel
 * finds no FADT (no PM timer for the timeline's rate) and no MADT (no other CPUs). */
static void find_acpi(const EFI_SYSTEM_TABLE *systab)
{
    EFI_GUID acpi20 = ACPI_20_TABLE_GUID, acpi10 = ACPI_TABLE_GUID;
    uint64_t found = 0;
    const char *which = "";
    for (UINTN i = 0; i < systab->NumberOfTableEntries; i++) {
        EFI_CONFIGURATION_TABLE *t = &systab->ConfigurationTable[i];
        if (CompareGuid(&t->VendorGuid, &acpi20) == 0) {
            found = (uint64_t)(uintptr_t)t->VendorTable;
            which = "2.0";
            break;
        }
        if (found == 0 && CompareGuid(&t->VendorGuid, &acpi10) == 0) {
            found = (uint64_t)(uintptr_t)t->VendorTable;
            which = "1.0";
        }
    }
    if (found == 0) {
        kprintf("UEFI loader: no ACPI table in the firmware's configuration table\n");
        return;
    }
    if (found + 36 > IDENTITY_MAP_END) {
        kprintf("UEFI loader: ACPI RSDP at 0x%lx, above the 1 GiB identity map: not passed\n",
                (unsigned long)found);
        return;
    }
    bi.acpi_rsdp = found;
    kprintf("UEFI loader: ACPI %s RSDP at 0x%lx\n", which, (unsigned long)found);
}

/* UEFI memory types (UEFI 2.9 Table 7-6, ACPI 6.4 Table 15-6) in E820 terms: what the
 * kernel may use once boot services are gone is usable. */
static uint32_t e820_type(UINT32 efi_type)
{
    switch (efi_type) {
    case EfiLoaderCode:
    case EfiLoaderData:
    case EfiBootServicesCode:
    case EfiBootServicesData:
    case EfiConventionalMemory:
        return 1;
    case EfiACPIReclaimMemory: return 3;
    case EfiACPIMemoryNVS: return 4;
    case EfiUnusableMemory: return 5;
    default: return 2;
    }
}

static void add_range(uint64_t base, uint64_t length, uint32_t type)
{
    if (bi.e820_count > 0 && bi.e820_count <= BOOTINFO_E820_MAX) {
        struct e820_entry *last = &bi.e820[bi.e820_count - 1];
        if (last->type == type && last->base + last->length == base) {
            last->length += length; /* adjacent ranges of one type merge, as E820's do */
            return;
        }
    }
    if (bi.e820_count < BOOTINFO_E820_MAX)
        bi.e820[bi.e820_count] = (struct e820_entry){ base, length, type, 1 };
    bi.e820_count++;
}

/* The memory map, then ExitBootServices with its key; a map that changed in between
 * (the key is stale) is read again. */
static void exit_boot_services(EFI_HANDLE image)
{
    for (int tries = 0; tries < 4; tries++) {
        UINTN size = sizeof map_buf, key = 0, desc_size = 0;
        UINT32 version = 0;
        check(BS->GetMemoryMap(&size, (EFI_MEMORY_DESCRIPTOR *)map_buf, &key, &desc_size,
                               &version), "GetMemoryMap");
        if (!EFI_ERROR(BS->ExitBootServices(image, key))) {
            boot_services = 0;
            bi.e820_count = 0;
            for (UINTN off = 0; off + desc_size <= size; off += desc_size) {
                const EFI_MEMORY_DESCRIPTOR *d = (const EFI_MEMORY_DESCRIPTOR *)(map_buf + off);
                add_range(d->PhysicalStart, d->NumberOfPages * PAGE_SIZE, e820_type(d->Type));
            }
            return;
        }
    }
    elf_fail("ExitBootServices kept failing (the memory map changed each time)");
}

static int usable(uint64_t start, uint64_t end)
{
    for (uint32_t i = 0; i < bi.e820_count && i < BOOTINFO_E820_MAX; i++)
        if (bi.e820[i].type == 1 && start >= bi.e820[i].base &&
            end <= bi.e820[i].base + bi.e820[i].length)
            return 1;
    return 0;
}

static void map_or_fail(struct pt_pool *pool, uint64_t va, uint64_t pa, uint64_t size,
                        uint64_t flags, const char *what)
{
    uint64_t bad = 0;
    enum pagemap_status st = pagemap_range(pool, PT_BASE, va, pa, size, flags, &bad);
    if (st == PAGEMAP_NO_MEMORY)
        elf_fail("out of page-table memory (PT_BASE..PT_END) mapping %s", what);
    if (st != PAGEMAP_OK)
        elf_fail("virtual 0x%lx of %s is mapped twice", bad, what);
}

/* QEMU's fw_cfg (docs/specs/fw_cfg.txt): selector port 510h, data port 511h; item 0 is
 * the signature "QEMU", item 19h the file directory (big-endian count, 64-byte entries). */
#define FW_CFG_SELECT 0x510
#define FW_CFG_DATA 0x511

static uint8_t fw_cfg_byte(void)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"((uint16_t)FW_CFG_DATA));
    return v;
}

static void fw_cfg_select(uint16_t key)
{
    __asm__ volatile("outw %0, %1" ::"a"(key), "Nd"((uint16_t)FW_CFG_SELECT));
}

static int fw_cfg_has_file(const char *name)
{
    fw_cfg_select(0);
    char sig[4];
    for (int i = 0; i < 4; i++)
        sig[i] = (char)fw_cfg_byte();
    if (memcmp(sig, "QEMU", 4) != 0)
        return 0; /* not QEMU: no fw_cfg */
    fw_cfg_select(0x19);
    uint32_t count = 0;
    for (int i = 0; i < 4; i++)
        count = count << 8 | fw_cfg_byte();
    for (uint32_t n = 0; n < count && n < 1024; n++) {
        char entry[64];
        for (int i = 0; i < 64; i++)
            entry[i] = (char)fw_cfg_byte();
        entry[63] = 0;
        size_t len = strlen(name); /* u32 size, u16 select, u16 reserved, then the name */
        if (memcmp(entry + 8, name, len + 1) == 0)
            return 1;
    }
    return 0;
}

__attribute__((noinline)) static void wait_for_gdb(void)
{
    if (!fw_cfg_has_file("opt/farjump/wait-for-gdb"))
        return;
    uefi_gdb_wait = 1;
    kprintf("UEFI loader: ImageBase 0x%lx; waiting for GDB (set var uefi_gdb_wait = 0)\n",
            (unsigned long)(uintptr_t)ImageBase);
    while (uefi_gdb_wait)
        __asm__ volatile("pause");
}

static EFI_STATUS uefi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab);

/* The entry point (gnu-efi's crt0 relocates the image, then calls this). */
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    console_set_screen(no_screen); /* the screen is the firmware's until the kernel's */
    console_init(1);
    wait_for_gdb();
    return uefi_main(image, systab);
}

/* The loader proper: where make debug BOOT=uefi stops. */
__attribute__((noinline)) static EFI_STATUS uefi_main(EFI_HANDLE image,
                                                       EFI_SYSTEM_TABLE *systab)
{
    InitializeLib(image, systab);
    kprintf("farjump UEFI loader\n");
    bi.magic = BOOTINFO_MAGIC;
    bi.size = sizeof(bi);
    bi.boot_path = BOOT_PATH_UEFI;
    bi.a20_method = A20_ALREADY; /* UEFI runs in long mode: A20 is on */

    uint64_t size = 0;
    const uint8_t *file = read_kernel(image, &size);
    const struct elf64_ehdr *eh = load_kernel(file, size);
    find_framebuffer();
    find_acpi(systab);
    /* This code and its stack must stay reachable through the identity map. */
    uint64_t here = (uint64_t)(uintptr_t)&uefi_main, sp = (uint64_t)(uintptr_t)&size;
    if (here >= IDENTITY_MAP_END || sp >= IDENTITY_MAP_END)
        elf_fail("the loader runs at 0x%lx (stack 0x%lx), above the 1 GiB identity map",
                 here, sp);

    exit_boot_services(image);
    __asm__ volatile("cli");
    if (!usable(BOOTINFO_ADDR, BOOTINFO_ADDR + sizeof(bi)) || !usable(PT_BASE, PT_END))
        elf_fail("BOOTINFO_ADDR 0x%x or PT_BASE..PT_END 0x%x..0x%x is not free memory in "
                 "the firmware's map", BOOTINFO_ADDR, PT_BASE, PT_END);

    /* NX as stage 2 has it: EFER.NXE when CPUID 80000001h EDX bit 20 says NX exists. */
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001u));
    if (d & (1u << 20)) {
        uint32_t lo, hi;
        __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(EFER_MSR));
        __asm__ volatile("wrmsr" ::"a"(lo | EFER_NXE), "d"(hi), "c"(EFER_MSR));
        bi.nx = 1;
    }

    pagemap_identity(PT_BASE);
    struct pt_pool pool = { PT_BASE + 3 * PAGE_SIZE, PT_END };
    const struct elf64_phdr *ph = (const struct elf64_phdr *)(file + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (elf_loadable(&ph[i]))
            map_or_fail(&pool, ph[i].p_vaddr, ph[i].p_paddr, ph[i].p_memsz,
                        pagemap_flags(ph[i].p_flags, bi.nx), "the kernel");
    uint64_t fb_size = (uint64_t)bi.fb_pitch * bi.fb_height;
    if (bi.fb_format != FB_NONE && bi.fb_addr + fb_size > IDENTITY_MAP_END) {
        if (bi.fb_addr < IDENTITY_MAP_END)
            elf_fail("framebuffer 0x%lx..0x%lx straddles the identity map's end",
                     (unsigned long)bi.fb_addr, (unsigned long)(bi.fb_addr + fb_size));
        map_or_fail(&pool, bi.fb_addr, bi.fb_addr, fb_size,
                    PTE_W | (bi.nx ? PTE_NX : 0), "the framebuffer");
    }
    memcpy((void *)BOOTINFO_ADDR, &bi, sizeof(bi));
    write_cr3(PT_BASE);

    /* As stage 2's kernel_jump: RDI = boot_info. */
    __asm__ volatile("jmp *%0" ::"r"(eh->e_entry), "D"((uint64_t)BOOTINFO_ADDR) : "memory");
    __builtin_unreachable();
}

/* The boot timeline (docs/performance.md): stage 2, the loader and the kernel write the
 * TSC (RDTSC) into boot_info.timeline_tsc[] at each transition; the kernel prints the cost
 * of each step in TSC cycles and, when it could measure the TSC rate, in microseconds.
 *
 * The TSC rate is measured from kernel_main to "Hello World!" against the ACPI power
 * management timer (3.579545 MHz, ACPI spec §4.8.3.3), whose I/O port the FADT gives
 * (RSDP -> RSDT -> "FACP", PM_TMR_BLK). Under QEMU TCG the guest TSC is the host's TSC and
 * the PM timer follows QEMU's virtual clock (host time while the guest runs), so the
 * microseconds are host time; under Bochs both count emulated instructions (emulated time).
 * With no ACPI tables below IDENTITY_MAP_END, or no PM timer, tsc_hz stays 0 and only
 * cycles are printed. The report goes to COM1 only: its numbers change from boot to boot,
 * and the VGA screen stays what it was (the same on every boot, whatever the memory size). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "acpi.h"
#include "bootpath.h"
#include "kprintf.h"
#include "serial.h"
#include "string.h"
#include "timeline.h"

#define PM_TIMER_HZ 3579545ull
#define FADT_TMR_VAL_EXT (1u << 8) /* FADT flags: the PM timer has 32 bits, not 24 */

/* Event names and what happens between the previous event and each one
 * (contracts/bootinfo.h). */
#define TIMELINE_NAME_(index, id, short_name, text) [index] = #short_name,
static const char *const event_names[BOOTINFO_TIMELINE_MAX] = { TIMELINE_TABLE(TIMELINE_NAME_) };
#undef TIMELINE_NAME_
#define TIMELINE_STEP_(index, id, short_name, text) [index] = text,
static const char *const step_names[BOOTINFO_TIMELINE_MAX] = { TIMELINE_TABLE(TIMELINE_STEP_) };
#undef TIMELINE_STEP_

static uint16_t pm_port;         /* 0: no PM timer found */
static uint32_t pm_mask;
static uint32_t pm_start;
static uint64_t tsc_start;

static inline uint32_t inl(uint16_t port)
{
    uint32_t value;
    __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port) : "memory");
    return value;
}

/* The PM timer's port from the FADT, 0 if there is none we can read safely. */
static uint16_t find_pm_timer(uint32_t *mask)
{
    const uint8_t *f = acpi_table("FACP", 116);
    if (f == NULL)
        return 0;
    uint32_t port = acpi_rd32(f + 76); /* PM_TMR_BLK */
    if (port == 0 || port > 0xfffc)
        return 0;
    *mask = (acpi_rd32(f + 112) & FADT_TMR_VAL_EXT) ? 0xffffffffu : 0xffffffu;
    return (uint16_t)port;
}

/* printf to COM1 only (serial_putc turns \n into CR LF). */
__attribute__((format(printf, 1, 2))) static void report(const char *fmt, ...)
{
    char line[128];
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    serial_write(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static int usable(const struct boot_info *bi)
{
    return bi != NULL && bi->magic == BOOTINFO_MAGIC && bi->size >= sizeof(struct boot_info);
}

void timeline_kernel_main(struct boot_info *bi)
{
    if (!usable(bi))
        return;
    bootinfo_stamp(bi, TL_KERNEL_MAIN);
    bi->tsc_hz = 0;
    acpi_use_rsdp(bi->acpi_rsdp); /* the first ACPI lookup is the next line */
    pm_port = find_pm_timer(&pm_mask);
    if (pm_port) {
        pm_start = inl(pm_port) & pm_mask;
        tsc_start = bootinfo_rdtsc();
    }
}

void timeline_hello(struct boot_info *bi)
{
    if (!usable(bi))
        return;
    bootinfo_stamp(bi, TL_HELLO);
    if (!pm_port)
        return;
    uint32_t ticks = ((inl(pm_port) & pm_mask) - pm_start) & pm_mask;
    uint64_t cycles = bootinfo_rdtsc() - tsc_start;
    if (ticks >= 100) /* at least 28 us, or the rate means nothing */
        bi->tsc_hz = cycles * PM_TIMER_HZ / ticks;
}

void timeline_print(const struct boot_info *bi)
{
    if (!usable(bi))
        return;
    uint32_t rec = bi->timeline_recorded;
    uint64_t hz = bi->tsc_hz;
    if (hz)
        report("boot timeline (TSC at %llu MHz by the ACPI PM timer; stage 1 untimed):\n",
                (unsigned long long)((hz + 500000) / 1000000));
    else
        report("boot timeline (TSC cycles; rate unknown: no ACPI PM timer):\n");
    if (!(rec & 1u << TL_STAGE2_START)) {
        if (bi->boot_path != BOOT_PATH_BIOS) {
            char name[40];
            report("  no stamp from stage 2: booted by %s, stage 2 did not run\n",
                   boot_path_name(bi, name, sizeof name));
        } else {
            report("  no stamp from stage 2\n");
        }
        return;
    }
    uint64_t prev = bi->timeline_tsc[TL_STAGE2_START];
    uint64_t first = prev;
    for (unsigned ev = 1; ev < BOOTINFO_TIMELINE_MAX; ev++) {
        if (!(rec & 1u << ev)) {
            report("  %-12s not recorded\n", event_names[ev]);
            continue;
        }
        uint64_t now = bi->timeline_tsc[ev];
        if (now < prev) {
            report("  %-12s TSC went backwards (0x%llx < 0x%llx)\n", event_names[ev],
                    (unsigned long long)now, (unsigned long long)prev);
            prev = now;
            continue;
        }
        uint64_t cycles = now - prev;
        if (hz)
            report("  %-12s %11llu cycles %7llu us  %s\n", event_names[ev],
                    (unsigned long long)cycles,
                    (unsigned long long)(cycles * 1000000 / hz), step_names[ev]);
        else
            report("  %-12s %11llu cycles  %s\n", event_names[ev],
                    (unsigned long long)cycles, step_names[ev]);
        prev = now;
    }
    if (prev >= first) {
        uint64_t total = prev - first;
        if (hz)
            report("  %-12s %11llu cycles %7llu us  stage2_start to here\n", "total",
                    (unsigned long long)total, (unsigned long long)(total * 1000000 / hz));
        else
            report("  %-12s %11llu cycles  stage2_start to here\n", "total",
                    (unsigned long long)total);
    }
}

/* Starting the application processors (docs/boot.md, "The other CPUs").
 *
 * Which CPUs: the ACPI MADT (ACPI 6.x §5.2.12), every "Processor Local APIC" entry
 * (type 0) with its Enabled flag, other than the boot CPU's own APIC ID. Counting CPUs
 * with CPUID is not enough (under QEMU `-smp 4` makes four sockets of one core each, and
 * CPUID.1:EBX[23:16] then says 1), and guessing APIC IDs 1..N-1 would send SIPIs to IDs
 * nobody owns. x2APIC entries (type 9, APIC IDs above 254) are not handled: QEMU uses
 * them only beyond 255 CPUs. CPU n is the n-th enabled entry (the boot CPU is 0); under
 * QEMU that is cpu_index n, GDB's thread n+1, and APIC ID n.
 *
 * How: INIT, 10 ms, SIPI, 200 us, SIPI (the MP initialisation sequence, SDM Vol 3A
 * §9.4.4.1), through the local APIC's interrupt command register. The local APIC's page
 * (IA32_APIC_BASE, usually 0xFEE00000) lies above the 1 GiB identity map, so it is mapped
 * first: one 2 MiB uncached page, identity, in a page directory of our own.
 *
 * One AP at a time: they share struct ap_params at AP_PARAMS and the console, so the boot
 * CPU waits (bounded by guest time, see wait_for) until the AP has printed its line before
 * it starts the next. */
#include "cpus.h"

#include <stddef.h>

#include "acpi.h"
#include "cpu.h"
#include "idt.h"
#include "kprintf.h"
#include "layout.h"
#include "paging.h"
#include "string.h"

#define IA32_APIC_BASE 0x1b
#define APIC_BASE_MASK 0x000ffffffffff000ull
#define LAPIC_ID 0x20        /* bits 31:24: this CPU's APIC ID */
#define LAPIC_ICR_LOW 0x300  /* writing it sends the IPI (SDM Vol 3A §11.6.1) */
#define LAPIC_ICR_HIGH 0x310 /* bits 31:24: destination APIC ID */
#define ICR_INIT 0x00000500u
#define ICR_STARTUP 0x00000600u
#define ICR_LEVEL_ASSERT 0x00004000u
#define ICR_PENDING 0x00001000u /* delivery status: the IPI is not sent yet */

/* The trampoline's flat image (kernel/ap_blob.asm). */
extern const char ap_trampoline_blob[], ap_trampoline_blob_end[];

/* Each AP's stack; ap_online is the number of the last AP that printed its line. */
static char ap_stacks[AP_MAX_CPUS][AP_STACK_SIZE] __attribute__((aligned(16)));
static volatile uint32_t ap_online;
/* The page directory that maps the local APIC (PDPT slot 3: 3-4 GiB). */
static uint64_t lapic_pd[512] __attribute__((aligned(4096)));
static volatile uint32_t *lapic;
static uint64_t tsc_hz;

static uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static uint32_t lapic_read(unsigned reg)
{
    return lapic[reg / 4];
}

static void lapic_write(unsigned reg, uint32_t value)
{
    lapic[reg / 4] = value;
}

/* Spin until *flag == want or `us` microseconds of guest time pass. The TSC stands still
 * while QEMU is stopped (GDB at a breakpoint), so an AP stepped in GDB is not given up
 * on while it waits for the user; without a measured TSC rate, 3 GHz is assumed.
 * noinline: a waiting boot CPU always shows as <wait_for+N> in fj cpus (docs/smp.md). */
__attribute__((noinline)) static int wait_for(volatile uint32_t *flag, uint32_t want, uint64_t us)
{
    uint64_t hz = tsc_hz ? tsc_hz : 3000000000ull;
    uint64_t start = bootinfo_rdtsc(), cycles = hz / 1000000 * us;
    for (;;) {
        if (flag != NULL && *flag == want)
            return 1;
        if (bootinfo_rdtsc() - start >= cycles)
            return 0;
        __asm__ volatile("pause");
    }
}

static void delay_us(uint64_t us)
{
    wait_for(NULL, 0, us);
}

static int send_ipi(uint32_t apic_id, uint32_t command)
{
    lapic_write(LAPIC_ICR_HIGH, apic_id << 24);
    lapic_write(LAPIC_ICR_LOW, command);
    for (int i = 0; i < 100000; i++)
        if (!(lapic_read(LAPIC_ICR_LOW) & ICR_PENDING))
            return 1;
    return 0;
}

/* Map the local APIC's 2 MiB region identity, uncached. 0 if the tables do not allow it. */
static int map_lapic(uint64_t phys)
{
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(read_cr3() & PTE_ADDR_MASK);
    unsigned i4 = (phys >> 39) & 511, i3 = (phys >> 30) & 511, i2 = (phys >> 21) & 511;
    if (!(pml4[i4] & PTE_P) || (pml4[i4] & PTE_ADDR_MASK) >= IDENTITY_MAP_END)
        return 0;
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[i4] & PTE_ADDR_MASK);
    if (!(pdpt[i3] & PTE_P))
        pdpt[i3] = ((uint64_t)(uintptr_t)lapic_pd - KERNEL_VMA) | PTE_P | PTE_W;
    if ((pdpt[i3] & PTE_PS) || (pdpt[i3] & PTE_ADDR_MASK) >= IDENTITY_MAP_END)
        return 0;
    uint64_t *pd = (uint64_t *)(uintptr_t)(pdpt[i3] & PTE_ADDR_MASK);
    pd[i2] = (phys & ~(LARGE_PAGE_SIZE - 1)) | PTE_P | PTE_W | PTE_PS | PTE_PCD | PTE_PWT;
    write_cr3(read_cr3());
    lapic = (volatile uint32_t *)(uintptr_t)phys;
    return 1;
}

/* Start one AP; 1 once it has printed its line. noinline: its own frame, so that in GDB
 * 'frame function smp_start_aps' + 'finish' means "until every AP is online" (docs/smp.md). */
__attribute__((noinline)) static int start_ap(uint32_t cpu, uint32_t apic_id, volatile struct ap_params *params)
{
    params->stack_top = (uint64_t)(uintptr_t)(ap_stacks[cpu] + AP_STACK_SIZE);
    params->cpu = cpu;
    params->arrived = 0;
    if (!send_ipi(apic_id, ICR_INIT | ICR_LEVEL_ASSERT))
        return 0;
    delay_us(10000);
    for (int sipi = 0; sipi < 2 && !params->arrived; sipi++) {
        /* A second SIPI to an AP that left wait-for-SIPI is ignored (§9.4.4.1). */
        if (!send_ipi(apic_id, ICR_STARTUP | AP_SIPI_VECTOR))
            return 0;
        delay_us(200);
    }
    if (!wait_for(&params->arrived, 1, 1000000)) {
        kprintf("smp: CPU %u (APIC ID %u) did not reach long mode within 1 s\n",
                (unsigned)cpu, (unsigned)apic_id);
        return 0;
    }
    if (!wait_for(&ap_online, cpu, 1000000)) {
        kprintf("smp: CPU %u (APIC ID %u) reached long mode but did not report\n",
                (unsigned)cpu, (unsigned)apic_id);
        return 0;
    }
    return 1;
}

void smp_start_aps(const struct boot_info *bi)
{
    const uint8_t *madt = acpi_table("APIC", 44);
    if (madt == NULL) {
        kprintf("smp: no ACPI MADT below 1 GiB, only the boot CPU runs\n");
        return;
    }
    uint32_t len = acpi_rd32(madt + 4), others = 0;
    for (uint32_t off = 44; off + 2 <= len && madt[off + 1] >= 2; off += madt[off + 1])
        if (madt[off] == 0 && madt[off + 1] >= 8 && (acpi_rd32(madt + off + 4) & 1))
            others++;
    if (others <= 1)
        return; /* the boot CPU alone: the boot prints what it always did */

    tsc_hz = (bi != NULL && bi->magic == BOOTINFO_MAGIC) ? bi->tsc_hz : 0;
    uint64_t base = rdmsr(IA32_APIC_BASE) & APIC_BASE_MASK;
    if (!map_lapic(base)) {
        kprintf("smp: cannot map the local APIC at 0x%llx, only the boot CPU runs\n",
                (unsigned long long)base);
        return;
    }
    uint32_t self = lapic_read(LAPIC_ID) >> 24;

    uintptr_t tramp = AP_TRAMPOLINE, par = AP_PARAMS;
    __asm__("" : "+r"(tramp), "+r"(par)); /* computed pointers: GCC flags low constants */
    memcpy((void *)tramp, ap_trampoline_blob, (size_t)(ap_trampoline_blob_end - ap_trampoline_blob));
    volatile struct ap_params *params = (volatile struct ap_params *)par;
    params->cr0 = read_cr0();
    params->cr3 = read_cr3();
    params->cr4 = read_cr4();
    params->efer = rdmsr(0xc0000080);
    params->entry = (uint64_t)(uintptr_t)ap_main;

    kprintf("CPU 0 online (APIC ID %u, boot CPU), starting %u more\n", (unsigned)self,
            (unsigned)(others - 1));
    uint32_t cpu = 0;
    for (uint32_t off = 44; off + 2 <= len && madt[off + 1] >= 2; off += madt[off + 1]) {
        if (madt[off] != 0 || madt[off + 1] < 8 || !(acpi_rd32(madt + off + 4) & 1))
            continue;
        uint32_t apic_id = madt[off + 3];
        if (apic_id == self)
            continue;
        if (++cpu >= AP_MAX_CPUS) {
            kprintf("smp: only %u CPUs are started (AP_MAX_CPUS)\n", (unsigned)AP_MAX_CPUS);
            return;
        }
        if (!start_ap(cpu, apic_id, params))
            return; /* it may still arrive later: do not reuse its ap_params */
    }
}

void ap_main(uint32_t cpu)
{
    idt_load(); /* the kernel's exception gates: a fault gets the panic screen */
    kprintf("CPU %u online (APIC ID %u, long mode)\n", (unsigned)cpu,
            (unsigned)(lapic_read(LAPIC_ID) >> 24));
    ap_online = cpu;
    halt_forever();
}

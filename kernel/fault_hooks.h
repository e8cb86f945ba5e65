/* Test hooks for deliberate CPU exceptions (tests/test_panic.py).
 *
 * The kernel defines both empty and weak (fault_hooks.c). `make build/fault/NAME.img`
 * links a kernel with tests/guests/fault/fault.c compiled with -DFJ_FAULT=NAME (dashes
 * become underscores), whose strong definitions raise that exception; the names are
 * listed there. */
#ifndef FARJUMP_FAULT_HOOKS_H
#define FARJUMP_FAULT_HOOKS_H

/* Called by kernel_main once the GDT, IDT and stack guard are set up. */
void fault_inject(void);

/* Called by the panic after its title line: lets one variant fault inside the panic. */
void fault_in_panic(void);

#endif

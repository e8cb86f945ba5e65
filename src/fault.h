/* Deliberate CPU exceptions, for testing the panic screen (tests/test_panic.py).
 *
 * A normal build compiles both functions empty. `make build/fault/NAME.img` builds a
 * kernel with fault.c compiled with -DFJ_FAULT=NAME (dashes become underscores); the
 * names are listed in fault.c. */
#ifndef FARJUMP_FAULT_H
#define FARJUMP_FAULT_H

/* Called by kernel_main once the GDT, IDT and stack guard are set up. */
void fault_inject(void);

/* Called by the panic after its title line: lets one variant fault inside the panic. */
void fault_in_panic(void);

#endif

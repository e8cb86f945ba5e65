/* COM1 at I/O port 0x3F8, programmed as a 16550A: 115200 baud, 8N1, FIFOs on.
 * Shared with the loader: no state outside this file, position independent. */
#include "serial.h"

#include <stdint.h>

#include "io.h"

#define COM1 0x3F8

/* Register offsets from the base port (16550 datasheet; DLAB = LCR bit 7). */
#define UART_DATA 0 /* THR/RBR; divisor low byte when DLAB=1 */
#define UART_IER 1  /* interrupt enable; divisor high byte when DLAB=1 */
#define UART_FCR 2  /* FIFO control (write) */
#define UART_LCR 3  /* line control */
#define UART_MCR 4  /* modem control */
#define UART_LSR 5  /* line status */

#define LCR_8N1 0x03  /* 8 data bits, no parity, 1 stop bit */
#define LCR_DLAB 0x80 /* divisor latch access */
#define FCR_ENABLE_CLEAR_14 0xC7 /* enable FIFOs, clear RX and TX, RX trigger at 14 bytes */
#define MCR_DTR_RTS_OUT2 0x0B /* OUT2 gates the IRQ line on PC hardware */
#define LSR_THRE 0x20 /* transmit holding register empty */
#define LSR_TEMT 0x40 /* transmitter empty: holding and shift register */

/* Enough iterations for one character at 115200 baud (~87 us) even on a fast
 * CPU, since every INB costs about a microsecond; bounded so that a missing UART
 * (reads return 0xFF or 0x00) costs a little time instead of hanging. */
#define THRE_SPIN_LIMIT 100000

void serial_init(void)
{
    /* The previous stage may still be sending its last bytes: reprogramming the divisor
     * and the FCR write (which clears the transmit FIFO) would cut them off on real
     * hardware. Bounded: a missing UART reads 0xFF (TEMT set) or never sets it. */
    for (int i = 0; i < THRE_SPIN_LIMIT && !(inb(COM1 + UART_LSR) & LSR_TEMT); i++)
        ;
    outb(COM1 + UART_IER, 0x00); /* polled: no UART interrupts */
    outb(COM1 + UART_LCR, LCR_DLAB);
    outb(COM1 + UART_DATA, 1);   /* divisor 1: 115200 = 1.8432 MHz / 16 / 1 */
    outb(COM1 + UART_IER, 0);
    outb(COM1 + UART_LCR, LCR_8N1); /* also clears DLAB */
    outb(COM1 + UART_FCR, FCR_ENABLE_CLEAR_14);
    outb(COM1 + UART_MCR, MCR_DTR_RTS_OUT2);
}

void serial_putc(char c)
{
    if (c == '\n')
        serial_putc('\r'); /* terminals want CR LF */
    for (int i = 0; i < THRE_SPIN_LIMIT; i++) {
        if (inb(COM1 + UART_LSR) & LSR_THRE)
            break;
    }
    outb(COM1 + UART_DATA, (uint8_t)c);
}

void serial_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        serial_putc(s[i]);
}

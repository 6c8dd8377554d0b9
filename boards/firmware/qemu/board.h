/*
 * What each emulated board gives the shared bare-metal main (main.c): a console UART, semihosting for the
 * report channel and the exit code, and an instruction counter.
 */
#ifndef SLIM_QEMU_BOARD_H
#define SLIM_QEMU_BOARD_H
#include <stdint.h>

void board_init(void);
void board_uart_put(uint8_t c);
int board_uart_get(void); /* blocks; a byte */
uint64_t board_instructions(void);
/* ARM semihosting call (also RISC-V semihosting): op in r0/a0, argument block in r1/a1. */
uintptr_t board_semihost(uintptr_t op, uintptr_t arg);
extern const char* const board_counter_unit;

/* The flash window (the image `slimedge flash --out` writes, loaded at its offsets) and its size. */
extern const uint8_t __flash_start[];
extern const uint8_t __flash_end[];
/* The native stack, painted at start to measure how deep it went. */
extern uint8_t __stack_bottom[];
extern uint8_t __stack_top[];
#endif

/* QEMU `virt` (riscv32): NS16550A UART at 0x10000000, minstret under -icount, RISC-V semihosting. */
#include "board.h"

#define UART ((volatile uint8_t*)0x10000000u)
#define UART_LSR 5
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20

const char* const board_counter_unit = "instructions";

void board_init(void) {}

void board_uart_put(uint8_t c) {
  while (!(UART[UART_LSR] & LSR_THR_EMPTY)) {
  }
  UART[0] = c;
}

int board_uart_get(void) {
  while (!(UART[UART_LSR] & LSR_DATA_READY)) {
  }
  return UART[0];
}

uint64_t board_instructions(void) {
  uint32_t hi, lo, again;
  do {
    __asm__ volatile("csrr %0, minstreth" : "=r"(hi));
    __asm__ volatile("csrr %0, minstret" : "=r"(lo));
    __asm__ volatile("csrr %0, minstreth" : "=r"(again));
  } while (hi != again);
  return (uint64_t)hi << 32 | lo;
}

/* The RISC-V semihosting sequence: slli x0,x0,0x1f; ebreak; srai x0,x0,7 — uncompressed, in one page. */
uintptr_t board_semihost(uintptr_t op, uintptr_t arg) {
  register uintptr_t a0 __asm__("a0") = op;
  register uintptr_t a1 __asm__("a1") = arg;
  __asm__ volatile(
      ".option push\n.option norvc\n.balign 16\n"
      "slli x0, x0, 0x1f\nebreak\nsrai x0, x0, 7\n"
      ".option pop\n"
      : "+r"(a0)
      : "r"(a1)
      : "memory");
  return a0;
}

/*
 * QEMU `mps2-an505` (Cortex-M33, secure state after reset): CMSDK UART0 (secure alias 0x50200000), the SSE-200
 * TIMER0 (secure alias 0x50000000) counting down at the 20 MHz system clock, Arm semihosting via BKPT 0xAB.
 * Under -icount shift=0 virtual time advances one nanosecond per instruction, so one timer tick is 50
 * instructions (board_instructions is exact to that).
 */
#include "board.h"

#define UART ((volatile uint32_t*)0x50200000u)
#define UART_DATA 0
#define UART_STATE 1 /* bit 0: TX full, bit 1: RX full */
#define UART_CTRL 2  /* bit 0: TX enable, bit 1: RX enable */
#define UART_BAUDDIV 4
#define TIMER ((volatile uint32_t*)0x50000000u)
#define TIMER_CTRL 0
#define TIMER_VALUE 1
#define TIMER_RELOAD 2
#define NS_PER_TICK 50u /* 20 MHz */
#define CPACR (*(volatile uint32_t*)0xe000ed88u)

const char* const board_counter_unit = "instructions";

static uint32_t wraps, last;

void board_init(void) {
  UART[UART_BAUDDIV] = 16;
  UART[UART_CTRL] = 3;
  TIMER[TIMER_CTRL] = 0;
  TIMER[TIMER_RELOAD] = 0xffffffffu;
  TIMER[TIMER_VALUE] = 0xffffffffu;
  TIMER[TIMER_CTRL] = 1;
  last = 0;
}

void board_uart_put(uint8_t c) {
  while (UART[UART_STATE] & 1) {
  }
  UART[UART_DATA] = c;
}

int board_uart_get(void) {
  while (!(UART[UART_STATE] & 2)) {
  }
  return (int)(UART[UART_DATA] & 0xff);
}

uint64_t board_instructions(void) {
  uint32_t ticks = 0xffffffffu - TIMER[TIMER_VALUE];
  if (ticks < last) wraps++; /* read at least once per 214 s of virtual time */
  last = ticks;
  return ((uint64_t)wraps << 32 | ticks) * NS_PER_TICK;
}

uintptr_t board_semihost(uintptr_t op, uintptr_t arg) {
  register uintptr_t r0 __asm__("r0") = op;
  register uintptr_t r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

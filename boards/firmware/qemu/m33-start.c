/*
 * Reset entry of the Cortex-M33 firmware. The boot ROM's part — the two words at flash offset 0 (initial stack
 * pointer, entry) — is written by the emulator runner; _start then points VTOR at this firmware's own table,
 * so faults end the run with one line instead of a lockup, turns the FPU on and sets up .data and .bss.
 */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "slim_fw.h"

extern uint8_t __data_start[], __data_end[], __bss_start[], __bss_end[];
extern const uint8_t __data_load[];
int main(void);
uintptr_t board_semihost(uintptr_t op, uintptr_t arg);

__attribute__((noreturn)) static void fault(void) {
  static const uintptr_t block[2] = {0x20026, 71};
  slim_say("slimedge-fw: the CPU faulted\n");
  for (;;) board_semihost(0x20, (uintptr_t)block);
}

static const uintptr_t vectors[16];

__attribute__((noreturn)) void _start(void) {
  *(volatile uint32_t*)0xe000ed08u = (uint32_t)(uintptr_t)vectors; /* VTOR */
  *(volatile uint32_t*)0xe000ed88u |= 0xfu << 20; /* CP10, CP11: the FPU */
  __asm__ volatile("dsb\nisb");
  memcpy(__data_start, __data_load, (size_t)(__data_end - __data_start));
  memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
  main();
  for (;;) {
  }
}

__attribute__((aligned(128), used)) static const uintptr_t vectors[16] = {
    (uintptr_t)__stack_top, (uintptr_t)_start, (uintptr_t)fault, (uintptr_t)fault, (uintptr_t)fault,
    (uintptr_t)fault,       (uintptr_t)fault, (uintptr_t)fault,
};

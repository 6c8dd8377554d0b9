/*
 * The bare-metal firmware of the emulated boards (rv32 `virt`, Cortex-M33 `mps2-an505`): reads one line of
 * arguments from the console UART ("prompt" -n 8 --temp 0), runs the wasm2c-native command on the flash
 * window, writes the command's stdout to the UART and its stderr plus this firmware's report (instructions
 * per token, stack and RAM used) over semihosting, and exits through semihosting with the command's code.
 */
#include <string.h>

#include "board.h"
#include "slim_fw.h"
#include "slim_native.h"

#define SEMIHOST_WRITE0 0x04
#define SEMIHOST_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

const char* const slim_board_counter_unit = "instructions";

uint64_t slim_board_counter(void) { return board_instructions(); }
/* The command's clock: one nanosecond per instruction, as QEMU's -icount shift=0 advances virtual time. */
uint64_t slim_board_now_ns(void) { return board_instructions(); }

void slim_board_write(int fd, const uint8_t* bytes, uint32_t n) {
  if (fd == 1) {
    for (uint32_t i = 0; i < n; i++) board_uart_put(bytes[i]);
    return;
  }
  static char chunk[129];
  while (n > 0) {
    uint32_t k = n < 128 ? n : 128;
    memcpy(chunk, bytes, k);
    chunk[k] = 0;
    board_semihost(SEMIHOST_WRITE0, (uintptr_t)chunk);
    bytes += k, n -= k;
  }
}

static __attribute__((noreturn)) void board_exit(int code) {
  static uintptr_t block[2];
  block[0] = ADP_STOPPED_APPLICATION_EXIT;
  block[1] = (uintptr_t)code;
  for (;;) board_semihost(SEMIHOST_EXIT_EXTENDED, (uintptr_t)block);
}

/* What the C library calls on a failed assertion or abort(): one line and exit code 134, as a host would. */
void abort(void) {
  slim_say("slimedge-fw: abort\n");
  board_exit(134);
}
void __assert_func(const char* file, int line, const char* func, const char* expr) {
  (void)line, (void)func;
  slim_say("slimedge-fw: assertion failed: ");
  slim_say(expr);
  slim_say(" in ");
  slim_say(file);
  slim_say("\n");
  board_exit(134);
}

#define PAINT 0xa5
#define ARG_BYTES 1024
#define MAX_ARGS 32

int main(void) {
  board_init();
  /* Paint the stack below this frame, to find the deepest point the command reaches. */
  uint8_t* here = (uint8_t*)__builtin_frame_address(0) - 256;
  memset(__stack_bottom, PAINT, (uint32_t)(here - __stack_bottom));

  static char line[ARG_BYTES];
  uint32_t n = 0;
  for (;;) {
    int c = board_uart_get();
    if (c == '\n' || c < 0) break;
    if (n + 1 < ARG_BYTES) line[n++] = (char)c;
  }
  line[n] = 0;
  static char* argv[MAX_ARGS + 1];
  int argc = slim_split_args(line, argv, MAX_ARGS);

  uint64_t t0 = board_instructions();
  int code = slim_run_native(__flash_start, (uint32_t)(__flash_end - __flash_start), argc, argv);
  uint64_t total = board_instructions() - t0;

  uint8_t* low = __stack_bottom;
  while (low < here && *low == PAINT) low++;
  slim_say("slimedge-fw: ");
  slim_say_u64(total);
  slim_say(" instructions in all; native stack peak ");
  slim_say_u64((uint64_t)(__stack_top - low));
  slim_say(" of ");
  slim_say_u64((uint64_t)(__stack_top - __stack_bottom));
  slim_say(" bytes; linear memory ");
  slim_say_u64(slim_arena_bytes);
  slim_say(" bytes\n");
  board_exit(code);
}

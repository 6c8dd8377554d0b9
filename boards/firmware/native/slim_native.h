/* The wasm2c-native firmware: the command module translated to C, run on the board's static arena. */
#ifndef SLIM_NATIVE_H
#define SLIM_NATIVE_H

#include <setjmp.h>
#include <stdint.h>

/* The linear memory, defined by the board build with the plan's pages (min == max). */
extern uint8_t slim_arena[] __attribute__((aligned(16))); /* aligned: the access macros test alignment on offsets */
/* Bytes of RAM the arena holds: the whole memory, or with the weights in flash the part below them. */
extern const uint32_t slim_arena_bytes;
/* The module's memory: its pages (min == max) in bytes; beyond slim_arena_bytes it is read in place from flash. */
extern const uint32_t slim_memory_bytes;
/* Address of the plan block's readOnlyDelta slot (PlanSlot), where the firmware tells the module where the flash part is. */
extern const uint32_t slim_delta_slot;

/* longjmp values: proc_exit(code) jumps with SLIM_EXIT_BASE + code; traps with SLIM_TRAP_BASE + trap. */
#define SLIM_EXIT_BASE 0x1000
#define SLIM_TRAP_BASE 0x100
#define SLIM_TRAP_MEMORY 0x200
extern jmp_buf slim_trap_target;

/*
 * Runs the command on the flash image: finds the model partition, instantiates the module, places the
 * model's data segments, runs _start with these arguments. Returns the command's exit code, or 70 after one
 * "slimedge-fw: ..." line when the flash image or the module is wrong.
 */
int slim_run_native(const uint8_t* flash, uint32_t flash_bytes, int argc, char** argv);

/* The same from the model partition's bytes, found by the caller (ESP-IDF: esp_partition_mmap). */
int slim_run_native_model(const uint8_t* model, uint32_t model_bytes, int argc, char** argv);

#endif

/* The WAMR firmware's glue: the core module from the artifact partition under WAMR's interpreter. */
#ifndef SLIM_WAMR_H
#define SLIM_WAMR_H
#include <stdint.h>

/*
 * Loads <name>.core.wasm from the artifact partition into RAM (WAMR keeps it, writable, until unload),
 * instantiates it with `wasm_stack_bytes` of wasm stack and an app heap of 0 (so the memory stays at the
 * plan's min == max pages), places the model partition's data segments into its linear memory, registers
 * the five WASI calls of the portable core and runs _start. Returns the command's exit code, or 70 after
 * one "slimedge-fw: ..." line.
 */
int slim_run_wamr(const uint8_t* flash, uint32_t flash_bytes, uint32_t wasm_stack_bytes, int argc, char** argv);

/* The same from the model and artifact partitions' bytes, found by the caller (ESP-IDF: esp_partition_mmap). */
int slim_run_wamr_parts(const uint8_t* model, uint32_t model_bytes, const uint8_t* artifact, uint32_t artifact_bytes,
                        uint32_t wasm_stack_bytes, int argc, char** argv);

#endif

/*
 * The wasm2c-native firmware's glue: the translated command (command.c, from `wasm2c -n command`) calls its
 * five WASI imports here, which the portable core answers on the module's memory; slim_run_native finds
 * the model partition, places its data segments and runs _start.
 */
#include <setjmp.h>
#include <string.h>

#include "command.h"
#include "slim_fw.h"
#include "slim_native.h"

struct Z_wasi_snapshot_preview1_instance_t {
  slim_wasi w;
};

u32 Z_wasi_snapshot_preview1Z_fd_write(struct Z_wasi_snapshot_preview1_instance_t* i, u32 fd, u32 iovs, u32 n, u32 nw) {
  return slim_wasi_fd_write(&i->w, fd, iovs, n, nw);
}
u32 Z_wasi_snapshot_preview1Z_args_sizes_get(struct Z_wasi_snapshot_preview1_instance_t* i, u32 argc, u32 size) {
  return slim_wasi_args_sizes_get(&i->w, argc, size);
}
u32 Z_wasi_snapshot_preview1Z_args_get(struct Z_wasi_snapshot_preview1_instance_t* i, u32 argv, u32 buf) {
  return slim_wasi_args_get(&i->w, argv, buf);
}
u32 Z_wasi_snapshot_preview1Z_clock_time_get(struct Z_wasi_snapshot_preview1_instance_t* i, u32 id, u64 precision, u32 at) {
  return slim_wasi_clock_time_get(&i->w, id, precision, at);
}
void Z_wasi_snapshot_preview1Z_proc_exit(struct Z_wasi_snapshot_preview1_instance_t* i, u32 code) {
  (void)i;
  longjmp(slim_trap_target, SLIM_EXIT_BASE + (int)(code & 0xff));
}

static int failed(const char* why) {
  slim_say("slimedge-fw: ");
  slim_say(why);
  slim_say("\n");
  return 70;
}

int slim_run_native(const uint8_t* flash, uint32_t flash_bytes, int argc, char** argv) {
  slim_partition part;
  const char* why = 0;
  if (slim_find_partition(flash, flash_bytes, SLIM_PARTITION_TABLE_OFFSET, SLIM_PART_TYPE_DATA, SLIM_PART_SUBTYPE_MODEL, "model", &part, &why) != 0)
    return failed(why);
  return slim_run_native_model(flash + part.offset, part.size, argc, argv);
}

int slim_run_native_model(const uint8_t* model, uint32_t model_bytes, int argc, char** argv) {
  static Z_command_instance_t command; /* static: the instance is not small, and nothing is allocated */
  static struct Z_wasi_snapshot_preview1_instance_t wasi;
  slim_partition part = {{0}, 0, 0, 0, model_bytes};
  slim_model_info info;
  const char* why = 0;
  if (slim_model_verify(model, model_bytes, &why) != 0) return failed(why);
  if (slim_model_inspect(model, part.size, &info, &why) != 0) return failed(why);
  if ((uint64_t)info.pages * 65536u != slim_memory_bytes)
    return failed("model partition: the model plans another number of pages than this firmware's linear memory; build the firmware from the same artifact");

  volatile int stage = 0;
  int jumped = setjmp(slim_trap_target);
  if (jumped != 0) {
    if (jumped >= SLIM_EXIT_BASE) {
      slim_report_counts();
      return jumped - SLIM_EXIT_BASE;
    }
    if (jumped == SLIM_TRAP_MEMORY) return failed("the module's memory is not the firmware's arena (min == max == planned pages)");
    slim_say("slimedge-fw: the module trapped: ");
    slim_say(wasm_rt_strerror((wasm_rt_trap_t)(jumped - SLIM_TRAP_BASE)));
    slim_say(stage ? "\n" : " (while instantiating)\n");
    return 70;
  }
  wasm_rt_init();
  Z_command_init_module();
  Z_command_instantiate(&command, &wasi);
  wasm_rt_memory_t* memory = Z_commandZ_memory(&command);
  uint32_t delta = 0;
  if (slim_model_place_split(model, part.size, memory->data, memory->size, slim_arena_bytes, &delta, &info, &why) != 0) return failed(why);
  if (slim_arena_bytes < slim_memory_bytes) {
    /* the weights stay in flash: the module adds delta to their addresses (ARCHITECTURE.md, "Weights in flash") */
    if (slim_delta_slot + 4u > slim_arena_bytes) return failed("the plan block is not in the firmware's RAM (rebuild the firmware for this artifact)");
    memcpy(memory->data + slim_delta_slot, &delta, 4);
  }
  wasi.w.memory = memory->data;
  wasi.w.memory_bytes = memory->size;
  wasi.w.argc = argc;
  wasi.w.argv = argv;
  slim_stamps_reset();
  stage = 1;
  Z_commandZ__start(&command);
  slim_report_counts();
  return 0;
}

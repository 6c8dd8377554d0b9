/*
 * The WAMR firmware's glue (ARCHITECTURE.md, "Board side"): everything that needs WAMR, on top of the
 * portable core. Built against WAMR's public embedding API (core/iwasm/include/wasm_export.h) with the
 * interpreter only, WAMR_BUILD_LIBC_WASI=0 and WAMR_BUILD_LIBC_BUILTIN=0: the command's WASI imports are
 * the core's, registered as natives of "wasi_snapshot_preview1".
 */
#include <stdlib.h>
#include <string.h>

#include "slim_fw.h"
#include "slim_wamr.h"
#include "wasm_export.h"

static slim_wasi g_wasi;
static int g_exit_code;
static const char* const EXIT_EXCEPTION = "slimedge proc_exit";

static uint32_t fd_write(wasm_exec_env_t env, uint32_t fd, uint32_t iovs, uint32_t n, uint32_t nwritten) {
  (void)env;
  return slim_wasi_fd_write(&g_wasi, fd, iovs, n, nwritten);
}
static uint32_t args_sizes_get(wasm_exec_env_t env, uint32_t argc, uint32_t size) {
  (void)env;
  return slim_wasi_args_sizes_get(&g_wasi, argc, size);
}
static uint32_t args_get(wasm_exec_env_t env, uint32_t argv, uint32_t buf) {
  (void)env;
  return slim_wasi_args_get(&g_wasi, argv, buf);
}
static uint32_t clock_time_get(wasm_exec_env_t env, uint32_t id, uint64_t precision, uint32_t at) {
  (void)env;
  return slim_wasi_clock_time_get(&g_wasi, id, precision, at);
}
static void proc_exit(wasm_exec_env_t env, uint32_t code) {
  g_exit_code = (int)(code & 0xff);
  wasm_runtime_set_exception(wasm_runtime_get_module_inst(env), EXIT_EXCEPTION); /* unwinds the interpreter */
}

/* Signatures: i = i32, I = i64; pointers are passed as i32 app offsets and checked by the core. */
static NativeSymbol g_natives[] = {
    {"fd_write", (void*)fd_write, "(iiii)i", NULL},
    {"args_sizes_get", (void*)args_sizes_get, "(ii)i", NULL},
    {"args_get", (void*)args_get, "(ii)i", NULL},
    {"clock_time_get", (void*)clock_time_get, "(iIi)i", NULL},
    {"proc_exit", (void*)proc_exit, "(i)", NULL},
};

static int failed(const char* what, const char* detail) {
  slim_say("slimedge-fw: ");
  slim_say(what);
  if (detail) {
    slim_say(": ");
    slim_say(detail);
  }
  slim_say("\n");
  return 70;
}

int slim_run_wamr(const uint8_t* flash, uint32_t flash_bytes, uint32_t wasm_stack_bytes, int argc, char** argv) {
  slim_partition model, artifact;
  const char* why = NULL;
  if (slim_find_partition(flash, flash_bytes, SLIM_PARTITION_TABLE_OFFSET, SLIM_PART_TYPE_DATA, SLIM_PART_SUBTYPE_MODEL, "model", &model, &why) != 0 ||
      slim_find_partition(flash, flash_bytes, SLIM_PARTITION_TABLE_OFFSET, SLIM_PART_TYPE_DATA, SLIM_PART_SUBTYPE_ARTIFACT, "artifact", &artifact, &why) != 0)
    return failed(why, NULL);
  return slim_run_wamr_parts(flash + model.offset, model.size, flash + artifact.offset, artifact.size, wasm_stack_bytes, argc, argv);
}

int slim_run_wamr_parts(const uint8_t* model_bytes, uint32_t model_size, const uint8_t* artifact, uint32_t artifact_size,
                        uint32_t wasm_stack_bytes, int argc, char** argv) {
  slim_model_info info;
  const char* why = NULL;
  if (slim_model_verify(model_bytes, model_size, &why) != 0) return failed(why, NULL);
  if (slim_model_inspect(model_bytes, model_size, &info, &why) != 0) return failed(why, NULL);
  const uint8_t* core;
  uint32_t core_bytes;
  if (slim_bundle_file(artifact, artifact_size, ".core.wasm", &core, &core_bytes, &why) != 0) return failed(why, NULL);

  RuntimeInitArgs init;
  memset(&init, 0, sizeof init);
  init.mem_alloc_type = Alloc_With_System_Allocator; /* on ESP-IDF large blocks go to PSRAM (CONFIG_SPIRAM_USE_MALLOC) */
  if (!wasm_runtime_full_init(&init)) return failed("WAMR did not initialise", NULL);
  int code = 70;
  char error[128];
  wasm_module_t module = NULL;
  wasm_module_inst_t inst = NULL;
  wasm_exec_env_t env = NULL;
  /* WAMR keeps the module buffer, writable, until unload: a RAM copy of the small core module */
  uint8_t* bytes = malloc(core_bytes);
  if (!bytes) {
    code = failed("no RAM for the core module", NULL);
    goto done;
  }
  memcpy(bytes, core, core_bytes);
  if (!wasm_runtime_register_natives("wasi_snapshot_preview1", g_natives, sizeof g_natives / sizeof g_natives[0])) {
    code = failed("WAMR refused the WASI natives", NULL);
    goto done;
  }
  module = wasm_runtime_load(bytes, core_bytes, error, sizeof error);
  if (!module) {
    code = failed("WAMR could not load the core module", error);
    goto done;
  }
  inst = wasm_runtime_instantiate(module, wasm_stack_bytes, 0 /* app heap: none, memory stays min == max */, error, sizeof error);
  if (!inst) {
    code = failed("WAMR could not instantiate the core module", error);
    goto done;
  }
  wasm_memory_inst_t memory = wasm_runtime_get_default_memory(inst);
  uint64_t memory_bytes = memory ? (uint64_t)wasm_memory_get_cur_page_count(memory) * 65536u : 0;
  if (memory_bytes != (uint64_t)info.pages * 65536u) {
    code = failed("model partition: the model plans another number of pages than the core module's memory", NULL);
    goto done;
  }
  uint8_t* base = wasm_memory_get_base_address(memory);
  if (slim_model_place(model_bytes, model_size, base, memory_bytes, &info, &why) != 0) {
    code = failed(why, NULL);
    goto done;
  }
  g_wasi.memory = base;
  g_wasi.memory_bytes = memory_bytes;
  g_wasi.argc = argc;
  g_wasi.argv = argv;
  wasm_function_inst_t start = wasm_runtime_lookup_function(inst, "_start");
  env = wasm_runtime_create_exec_env(inst, wasm_stack_bytes);
  if (!start || !env) {
    code = failed("the core module has no _start, or WAMR could not create its exec env", NULL);
    goto done;
  }
  slim_stamps_reset();
  g_exit_code = 0;
  if (wasm_runtime_call_wasm(env, start, 0, NULL)) {
    code = 0;
  } else {
    const char* exception = wasm_runtime_get_exception(inst);
    if (exception && strstr(exception, EXIT_EXCEPTION)) code = g_exit_code;
    else code = failed("the module trapped", exception);
  }
  slim_report_counts();
done:
  if (env) wasm_runtime_destroy_exec_env(env);
  if (inst) wasm_runtime_deinstantiate(inst);
  if (module) wasm_runtime_unload(module);
  free(bytes);
  wasm_runtime_destroy();
  return code;
}

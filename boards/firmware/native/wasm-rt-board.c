/*
 * The wasm2c runtime (wabt 1.0.32's wasm-rt.h interface) for a board without an OS: the module's one memory
 * is the firmware's static arena (slim_arena, sized from the plan at build time, min == max pages, never
 * grown), traps unwind with longjmp to slim_run_native, and function types live in a fixed table. The
 * translated module's loads and stores are tools/package/firmware.ts's (fastAccess): by offset into
 * slim_arena, checked only in the host build (SLIM_BOUNDS_CHECK). Nothing is allocated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include "wasm-rt.h"

#include "slim_native.h"

#if WASM_RT_USE_STACK_DEPTH_COUNT
uint32_t wasm_rt_call_stack_depth;
#endif

jmp_buf slim_trap_target;

void wasm_rt_trap(wasm_rt_trap_t code) {
#if WASM_RT_USE_STACK_DEPTH_COUNT
  wasm_rt_call_stack_depth = 0;
#endif
  longjmp(slim_trap_target, SLIM_TRAP_BASE + (int)code);
}

void wasm_rt_init(void) {}
bool wasm_rt_is_initialized(void) { return true; }
void wasm_rt_free(void) {}

const char* wasm_rt_strerror(wasm_rt_trap_t trap) {
  switch (trap) {
    case WASM_RT_TRAP_NONE: return "no trap";
    case WASM_RT_TRAP_OOB: return "out-of-bounds memory access";
    case WASM_RT_TRAP_INT_OVERFLOW: return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO: return "integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION: return "invalid conversion to integer";
    case WASM_RT_TRAP_UNREACHABLE: return "unreachable executed";
    case WASM_RT_TRAP_CALL_INDIRECT: return "invalid call_indirect";
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION: return "uncaught exception";
#if !WASM_RT_MERGED_OOB_AND_EXHAUSTION_TRAPS
    case WASM_RT_TRAP_EXHAUSTION: return "call stack exhausted";
#endif
  }
  return "unknown trap";
}

/* Function signatures, deduplicated: each is its parameter and result types, 3 bits a type. */
#define MAX_TYPES 64
#define MAX_ARITY 20
static struct {
  uint32_t params, results;
  uint8_t types[2 * MAX_ARITY];
} g_types[MAX_TYPES];
static uint32_t g_type_count;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  if (params > MAX_ARITY || results > MAX_ARITY) wasm_rt_trap(WASM_RT_TRAP_EXHAUSTION);
  uint8_t types[2 * MAX_ARITY];
  va_list args;
  va_start(args, results);
  for (uint32_t i = 0; i < params + results; i++) types[i] = (uint8_t)va_arg(args, int);
  va_end(args);
  for (uint32_t i = 0; i < g_type_count; i++)
    if (g_types[i].params == params && g_types[i].results == results && memcmp(g_types[i].types, types, params + results) == 0)
      return i + 1;
  if (g_type_count == MAX_TYPES) wasm_rt_trap(WASM_RT_TRAP_EXHAUSTION);
  g_types[g_type_count].params = params;
  g_types[g_type_count].results = results;
  memcpy(g_types[g_type_count].types, types, params + results);
  return ++g_type_count;
}

void wasm_rt_allocate_memory(wasm_rt_memory_t* memory, uint32_t initial_pages, uint32_t max_pages) {
  /* The plan fixed the pages at build time and the arena was sized from it; anything else is a build error. */
  if (initial_pages != max_pages || (uint64_t)initial_pages * 65536u != slim_memory_bytes || slim_arena_bytes > slim_memory_bytes) {
    longjmp(slim_trap_target, SLIM_TRAP_MEMORY);
  }
  memset(slim_arena, 0, slim_arena_bytes);
  memory->data = slim_arena;
  memory->pages = initial_pages;
  memory->max_pages = max_pages;
  /* the module's whole memory; beyond slim_arena_bytes only the read-only tail, which the module reads in place */
  memory->size = (uint32_t)slim_memory_bytes;
}

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t* memory, uint32_t pages) {
  (void)memory;
  return pages == 0 ? memory->pages : UINT32_MAX; /* min == max: never grows */
}

void wasm_rt_free_memory(wasm_rt_memory_t* memory) { (void)memory; }

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t* table, uint32_t elements, uint32_t max_elements) {
  (void)max_elements;
  if (elements != 0) longjmp(slim_trap_target, SLIM_TRAP_MEMORY);
  table->data = 0, table->size = 0, table->max_size = 0;
}
void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t* table) { (void)table; }

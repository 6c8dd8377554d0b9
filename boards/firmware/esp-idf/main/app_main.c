/*
 * The ESP-IDF firmware (ARCHITECTURE.md, "Board side"): finds the model and artifact partitions that
 * `slimedge flash` wrote, maps them, then reads one line of arguments at a time from the console UART
 * ("Once upon a time" -n 64 --temp 0) and runs the command on it — the wasm2c-native module
 * (SLIM_FIRMWARE_NATIVE) or the core module under WAMR's interpreter (SLIM_FIRMWARE_WAMR). Everything that
 * does not need ESP-IDF is the portable core in core/, the same C the host and the emulated boards run.
 */
#include <stdio.h>
#include <string.h>

#include "driver/uart.h"
#include "driver/uart_vfs.h"
#include "esp_partition.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#include "slim_config.h"
#include "slim_fw.h"
#if SLIM_FIRMWARE_WAMR
#include "slim_wamr.h"
#else
#include "slim_native.h"
#endif

const char* const slim_board_counter_unit = "ns";

void slim_board_write(int fd, const uint8_t* bytes, uint32_t n) {
  FILE* f = fd == 1 ? stdout : stderr;
  fwrite(bytes, 1, n, f);
  fflush(f);
}

uint64_t slim_board_now_ns(void) { return (uint64_t)esp_timer_get_time() * 1000u; }
uint64_t slim_board_counter(void) { return slim_board_now_ns(); }

/* Maps a data partition of `subtype` named `label` into the data address space. */
static const uint8_t* map_partition(uint8_t subtype, const char* label, uint32_t* size) {
  const esp_partition_t* p = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, (esp_partition_subtype_t)subtype, label);
  if (!p) {
    fprintf(stderr, "slimedge-fw: no \"%s\" partition (data, subtype 0x%02x); write the images with slimedge flash\n", label, subtype);
    return NULL;
  }
  const void* at = NULL;
  esp_partition_mmap_handle_t handle;
  if (esp_partition_mmap(p, 0, p->size, ESP_PARTITION_MMAP_DATA, &at, &handle) != ESP_OK) {
    fprintf(stderr, "slimedge-fw: could not map the \"%s\" partition (%lu bytes)\n", label, (unsigned long)p->size);
    return NULL;
  }
  *size = p->size;
  return at;
}

void app_main(void) {
  /* Blocking reads from the console UART, so fgets waits for a line. */
  uart_driver_install(CONFIG_ESP_CONSOLE_UART_NUM, 1024, 0, 0, NULL, 0);
  uart_vfs_dev_use_driver(CONFIG_ESP_CONSOLE_UART_NUM);
  uint32_t model_bytes = 0, artifact_bytes = 0;
  const uint8_t* model = map_partition(SLIM_PART_SUBTYPE_MODEL, "model", &model_bytes);
  const uint8_t* artifact = map_partition(SLIM_PART_SUBTYPE_ARTIFACT, "artifact", &artifact_bytes);
  if (!model || !artifact) return;
  static char line[1024];
  static char* argv[33];
  for (;;) {
    fprintf(stderr, "slimedge> ");
    if (!fgets(line, sizeof line, stdin)) {
      vTaskDelay(pdMS_TO_TICKS(50));
      continue;
    }
    int argc = slim_split_args(line, argv, 32);
#if SLIM_FIRMWARE_WAMR
    int code = slim_run_wamr_parts(model, model_bytes, artifact, artifact_bytes, SLIM_WASM_STACK_BYTES, argc, argv);
#else
    (void)artifact_bytes;
    int code = slim_run_native_model(model, model_bytes, argc, argv);
#endif
    fprintf(stderr, "slimedge-fw: exit %d\n", code);
  }
}

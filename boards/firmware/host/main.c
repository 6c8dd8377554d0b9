/*
 * The host build of the firmware core: reads a `slimedge flash --out` folder (flash_args and the images it
 * names), lays the images out in a flash-sized buffer at their offsets, and runs the command on it exactly
 * as a board does from its SPI flash: the wasm2c-native module, or — built with -DSLIM_WAMR and linked with
 * a WAMR built from its sources — the core module from the artifact partition under WAMR's interpreter.
 *
 *   slimedge-fw <flash-dir> ["prompt"] [-n 64] [--temp 1] [--top-p 0.9] [--seed 42]
 *
 * stdout: the command's text; stderr: its summary and this firmware's report lines.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slim_fw.h"
#ifdef SLIM_WAMR
#include "slim_wamr.h"
#ifndef SLIM_WASM_STACK_BYTES
#define SLIM_WASM_STACK_BYTES 8192
#endif
#else
#include "slim_native.h"
#endif

void slim_board_write(int fd, const uint8_t* bytes, uint32_t n) {
  while (n > 0) {
    ssize_t k = write(fd, bytes, n);
    if (k <= 0) return;
    bytes += k, n -= (uint32_t)k;
  }
}

uint64_t slim_board_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
uint64_t slim_board_counter(void) { return slim_board_now_ns(); }
const char* const slim_board_counter_unit = "ns";

static int die(const char* dir, const char* what) {
  fprintf(stderr, "slimedge-fw: %s/flash_args: %s\n", dir, what);
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: slimedge-fw <flash-dir> [\"prompt\"] [-n 64] [--temp 1] [--top-p 0.9] [--seed 42]\n");
    return 2;
  }
  const char* dir = argv[1];
  char path[4096];
  snprintf(path, sizeof path, "%s/flash_args", dir);
  FILE* args = fopen(path, "r");
  if (!args) return die(dir, "cannot be read (write the folder with slimedge flash --out)");
  char line[4096];
  uint32_t flash_bytes = 0;
  uint8_t* flash = NULL;
  while (fgets(line, sizeof line, args)) {
    char* size = strstr(line, "--flash_size ");
    if (size) {
      flash_bytes = (uint32_t)strtoul(size + 13, NULL, 10) << 20;
      if (flash_bytes == 0) return die(dir, "--flash_size is not a size in MB");
      flash = malloc(flash_bytes);
      if (!flash) return die(dir, "no memory for the flash image");
      memset(flash, 0xff, flash_bytes);
      continue;
    }
    unsigned long offset;
    char file[1024];
    if (sscanf(line, "%lx %1023s", &offset, file) != 2) continue;
    if (!flash) return die(dir, "an image line comes before --flash_size");
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE* image = fopen(path, "rb");
    if (!image) return die(dir, "names an image that cannot be read");
    fseek(image, 0, SEEK_END);
    long n = ftell(image);
    fseek(image, 0, SEEK_SET);
    if (n < 0 || offset + (unsigned long)n > flash_bytes) return die(dir, "an image runs past the end of flash");
    if (fread(flash + offset, 1, (size_t)n, image) != (size_t)n) return die(dir, "an image could not be read whole");
    fclose(image);
  }
  fclose(args);
  if (!flash) return die(dir, "has no --flash_size");
  argv[1] = argv[0]; /* the command sees: program, then its own arguments */
#ifdef SLIM_WAMR
  return slim_run_wamr(flash, flash_bytes, SLIM_WASM_STACK_BYTES, argc - 1, argv + 1);
#else
  return slim_run_native(flash, flash_bytes, argc - 1, argv + 1);
#endif
}

#pragma once
#include <stdint.h>
/// Allocations (malloc, calloc, realloc, memalign family) made by any thread since start.
uint64_t tern_malloc_count(void);

#pragma once
#include <cstdint>

namespace lfm {

// Bytes the OS says can still be allocated without swapping (MemAvailable), or 0 if unknown.
uint64_t available_memory_bytes();

}  // namespace lfm

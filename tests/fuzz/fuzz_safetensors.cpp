// libFuzzer target: any byte string as a safetensors file header.

#include <cstddef>
#include <cstdint>
#include <string>

#include "io/safetensors.h"
#include "lfm/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        (void)lfm::parse_safetensors_header(data, size, "fuzz.safetensors");
    } catch (const lfm::Error&) {
    }
    return 0;
}

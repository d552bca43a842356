// libFuzzer target: any byte string as a GGUF file. Parsing either succeeds or throws
// lfm::Error; it must never crash, read out of bounds or allocate without bound.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "io/gguf.h"
#include "lfm/error.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto file = std::make_shared<const lfm::MappedFile>(std::vector<uint8_t>(data, data + size), "fuzz.gguf");
    try {
        lfm::GgufFile g(file);
        for (const auto& [key, value] : g.metadata()) {
            (void)value.to_display();
            (void)value.strings();
            (void)value.ints();
        }
        (void)lfm::config_from_gguf(g);
    } catch (const lfm::Error&) {
    }
    return 0;
}

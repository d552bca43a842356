#pragma once
// SHA-256 (FIPS 180-4), streamed, to check downloaded files against the hub's digest.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace lfm {

class Sha256 {
public:
    Sha256();
    void update(const void* data, size_t size);
    std::string hex_digest();  // finishes; the object is spent afterwards

private:
    void block(const uint8_t* p);
    std::array<uint32_t, 8> h_;
    std::array<uint8_t, 64> buf_{};
    size_t buf_len_ = 0;
    uint64_t total_ = 0;
};

std::string sha256_hex(std::string_view data);

}  // namespace lfm

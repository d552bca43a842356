#pragma once
// Reading a JSON file with errors that name it.

#include <filesystem>
#include <nlohmann/json.hpp>

namespace lfm {

// Throws lfm::Error: kIo when the file cannot be read, kInvalidFile when it is not JSON.
nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace lfm

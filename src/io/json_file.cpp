#include "json_file.h"

#include <fstream>
#include <sstream>

#include "lfm/error.h"

namespace lfm {

nlohmann::json read_json_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw Error(ErrorCode::kIo, path.string() + ": cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    try {
        return nlohmann::json::parse(ss.str());
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorCode::kInvalidFile, path.string() + ": not valid JSON: " + e.what());
    }
}

}  // namespace lfm

// lfm::FunctionTools: tools the application implements as C++ functions.

#include <algorithm>
#include <exception>

#include "lfm/agent.h"

namespace lfm {

void FunctionTools::add(Tool tool, Function function) {
    if (tool.name.empty())
        throw Error(ErrorCode::kInvalidArgument, "FunctionTools::add: the tool has no name");
    if (!function)
        throw Error(ErrorCode::kInvalidArgument,
                    "FunctionTools::add: tool '" + tool.name + "' has no function");
    auto same = [&](const auto& entry) { return entry.first.name == tool.name; };
    auto it = std::find_if(tools_.begin(), tools_.end(), same);
    if (it != tools_.end())
        *it = {std::move(tool), std::move(function)};
    else
        tools_.emplace_back(std::move(tool), std::move(function));
}

std::vector<Tool> FunctionTools::tools() {
    std::vector<Tool> out;
    out.reserve(tools_.size());
    for (const auto& entry : tools_) out.push_back(entry.first);
    return out;
}

ToolResult FunctionTools::call(const ToolCall& call,
                               const std::atomic<bool>* /*cancel: a function runs to its end*/) {
    for (const auto& [tool, function] : tools_) {
        if (tool.name != call.name) continue;
        try {
            return function(call.arguments);
        } catch (const std::exception& e) {
            return {"tool '" + call.name + "' failed: " + e.what(), true};
        } catch (...) {
            return {"tool '" + call.name + "' failed", true};
        }
    }
    return {"there is no tool named '" + call.name + "'", true};
}

}  // namespace lfm

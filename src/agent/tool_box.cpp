// lfm::ToolBox: several tool executors shown to the model as one list. Names that two sources
// declare are qualified with the source's name, so that each call reaches the one that meant it.

#include <fmt/format.h>

#include <set>

#include "lfm/agent.h"

namespace lfm {

void ToolBox::add(std::string source, std::shared_ptr<ToolExecutor> executor) {
    if (!executor) throw Error(ErrorCode::kInvalidArgument, "ToolBox::add: no executor for '" + source + "'");
    std::lock_guard lock(mutex_);
    sources_.emplace_back(std::move(source), std::move(executor));
}

std::vector<Tool> ToolBox::tools() {
    std::lock_guard lock(mutex_);
    // Every source's list, read once: an MCP server's list may change between calls.
    std::vector<std::vector<Tool>> lists;
    std::map<std::string, int> declared;  // name -> how many sources declare it
    for (const auto& source : sources_) {
        lists.push_back(source.second->tools());
        std::set<std::string> names;  // a source listing a name twice counts once
        for (const Tool& t : lists.back()) names.insert(t.name);
        for (const std::string& name : names) ++declared[name];
    }
    routes_.clear();
    std::vector<Tool> out;
    for (size_t i = 0; i < sources_.size(); ++i) {
        for (Tool tool : lists[i]) {
            const std::string own = tool.name;
            std::string shown = declared[own] > 1 ? fmt::format("{}__{}", sources_[i].first, own) : own;
            if (routes_.count(shown) != 0) continue;  // a duplicate within one source: the first wins
            routes_[shown] = Route{sources_[i].second.get(), own};
            if (shown != own) {
                tool.name = shown;
                tool.json.clear();  // the original object names the tool by its own name
            }
            out.push_back(std::move(tool));
        }
    }
    return out;
}

ToolResult ToolBox::call(const ToolCall& call, const std::atomic<bool>* cancel) {
    bool listed;
    {
        std::lock_guard lock(mutex_);
        listed = !routes_.empty();
    }
    if (!listed) tools();
    ToolExecutor* executor = nullptr;
    ToolCall own = call;
    {
        std::lock_guard lock(mutex_);
        auto it = routes_.find(call.name);
        if (it == routes_.end()) return {"there is no tool named '" + call.name + "'", true};
        executor = it->second.executor;
        own.name = it->second.name;
    }
    return executor->call(own, cancel);  // unlocked: calls run side by side
}

}  // namespace lfm

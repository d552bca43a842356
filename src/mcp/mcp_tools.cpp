// McpTools: every server of a configuration behind one ToolExecutor. Servers connect (and later
// close) in parallel, so that a slow or hanging one costs its own time-out once, not once per
// server; ToolBox merges the tool lists and qualifies clashing names.

#include <thread>

#include "lfm/agent.h"

namespace lfm {
namespace {

// Runs job(i) for every i on its own thread and waits for all.
template <typename Job>
void for_each_parallel(size_t n, const Job& job) {
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (size_t i = 0; i < n; ++i) threads.emplace_back([&job, i] { job(i); });
    for (std::thread& t : threads) t.join();
}

}  // namespace

McpTools::McpTools(const std::vector<McpServerConfig>& configs, const McpOptions& options) {
    clients_.resize(configs.size());
    for_each_parallel(configs.size(),
                      [&](size_t i) { clients_[i] = McpClient::connect(configs[i], options); });
    for (const auto& client : clients_)
        if (client->state() == McpClient::State::kReady) box_.add(client->name(), client);
}

McpTools::~McpTools() {
    for_each_parallel(clients_.size(), [&](size_t i) { clients_[i]->close(); });
}

std::vector<Tool> McpTools::tools() {
    return box_.tools();
}

ToolResult McpTools::call(const ToolCall& call, const std::atomic<bool>* cancel) {
    return box_.call(call, cancel);
}

const std::vector<std::shared_ptr<McpClient>>& McpTools::servers() const {
    return clients_;
}

}  // namespace lfm

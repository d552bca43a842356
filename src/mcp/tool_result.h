#pragma once
// MCP's tools/call result as a ToolResult: what the model reads.

#include <nlohmann/json.hpp>

#include "lfm/agent.h"

namespace lfm::mcp {

// Text parts joined by newlines; images, audio and binary resources named with their type and
// size ("[image/png, 1234 bytes]"), since the model reads text only; structuredContent as JSON
// when no part is text; isError kept.
ToolResult tool_result_from_mcp(const nlohmann::json& result);

}  // namespace lfm::mcp

#pragma once
// Models by name from the Hugging Face hub: "LiquidAI/LFM2.5-8B-A1B-GGUF:Q4_K_M" -> a local GGUF
// path. Files live in the hub's standard cache layout ($HF_HUB_CACHE, or $HF_HOME/hub, or
// ~/.cache/huggingface/hub: models--ORG--NAME/{blobs,snapshots,refs}), so files that other
// tools downloaded are found, and ours are found by them. Downloads resume (HTTP Range) and are
// checked against the size and sha256 the hub reports.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "lfm/error.h"

namespace lfm {

struct HubOptions {
    std::string endpoint;   // empty: $HF_ENDPOINT, else https://huggingface.co
    std::string cache_dir;  // empty: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub
    std::string token;      // empty: $HF_TOKEN
    bool offline = false;   // or $HF_HUB_OFFLINE=1: the cache only
    int retries = 3;        // further attempts after a dropped connection, each resuming
    // Called while downloading: bytes so far and the file's size (0 when not known yet).
    std::function<void(uint64_t done, uint64_t total)> progress;
};

struct HubModelRef {
    std::string repo;   // "ORG/NAME"
    std::string quant;  // "Q4_K_M"; empty: Q4_K_M if the repository has it, else its only GGUF
    static HubModelRef parse(const std::string& spec);  // "ORG/NAME[:QUANT]"; throws lfm::Error
};

// The local path of the GGUF file: from the cache when it is there, else downloaded into it.
// Throws lfm::Error saying what failed and which file to put where to do without the network.
std::string hub_fetch(const std::string& spec, const HubOptions& options = {});
// The cached file only (no network); nullopt when it is not there.
std::optional<std::string> hub_find_cached(const std::string& spec, const HubOptions& options = {});
std::string hub_cache_dir(const HubOptions& options = {});

}  // namespace lfm

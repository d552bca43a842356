#pragma once
// Session files: a sequence's state on disk (Session::save / Session::load), and the model
// fingerprint that ties a file to the weights it was made with.

#include <string>
#include <string_view>

#include "config.h"
#include "session_impl.h"
#include "weights.h"

namespace lfm {

// SHA-256 (hex) over the config and every weight's type and shape, with a few sampled bytes of
// each tensor: different quantizations and different weights of one shape both differ. Cheap
// (no full read of gigabytes), so it runs at every load; call it before repacking.
std::string model_fingerprint(const Config& config, const Weights& weights);

void save_session(const Session::Impl& session, const std::string& path, std::string_view app_data);
// Throws lfm::Error naming the file and what is wrong; the caller clears the session then.
std::string load_session(Session::Impl& session, const std::string& path);  // returns the app data

// Each KV head's rows 0..pos-1 of every attention layer, keys then values: f(pointer, bytes).
// The order of the file's KV section and of a snapshot's.
template <class F>
void for_each_kv_run(SequenceState& s, F&& f) {
    const size_t run = static_cast<size_t>(s.pos) * s.head_bytes;
    for (int slot = 0; slot < s.n_attn_slots(); ++slot)
        for (uint8_t* base : {s.k_rows(slot), s.v_rows(slot)})
            for (int64_t j = 0; j < s.n_kv_head; ++j) f(base + static_cast<size_t>(j) * static_cast<size_t>(s.n_ctx) * s.head_bytes, run);
}

}  // namespace lfm

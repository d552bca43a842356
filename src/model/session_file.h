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

}  // namespace lfm

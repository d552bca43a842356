// Session snapshots: a sequence's state copied to memory and back (Session::snapshot / restore),
// in the layout of the session file's sections, without the file.

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "session_file.h"

namespace lfm {

struct SessionSnapshot::Data {
    std::string fingerprint;  // the model's: a snapshot restores only into the same weights
    DType kv_type = DType::kF16;
    int64_t pos = 0;
    std::vector<int32_t> tokens;  // [pos]
    std::vector<float> logits;    // [n_vocab], or empty when the session had none
    std::vector<float> conv_state;
    std::vector<ConvCheckpoint> checkpoints;
    std::vector<uint8_t> kv;  // the KV runs in for_each_kv_run's order
};

std::span<const int32_t> SessionSnapshot::tokens() const {
    return data_ ? std::span<const int32_t>(data_->tokens) : std::span<const int32_t>();
}

namespace {

size_t kv_bytes(SequenceState& s) {
    size_t total = 0;
    for_each_kv_run(s, [&](const uint8_t*, size_t n) { total += n; });
    return total;
}

size_t snapshot_size(size_t n_tokens, size_t n_logits, size_t conv_floats,
                     const std::vector<ConvCheckpoint>& checkpoints, size_t kv) {
    size_t n = sizeof(SessionSnapshot) + n_tokens * sizeof(int32_t) + n_logits * sizeof(float) +
               conv_floats * sizeof(float) + kv;
    for (const ConvCheckpoint& c : checkpoints) n += sizeof c + c.conv_state.size() * sizeof(float);
    return n;
}

}  // namespace

size_t SessionSnapshot::bytes() const {
    if (!data_) return 0;
    const Data& d = *data_;
    return sizeof d +
           snapshot_size(d.tokens.size(), d.logits.size(), d.conv_state.size(), d.checkpoints, d.kv.size());
}

size_t Session::snapshot_bytes() const {
    auto& s = const_cast<SequenceState&>(impl_->state);  // the KV accessors are not const; nothing is written
    return sizeof(SessionSnapshot::Data) + snapshot_size(s.tokens.size(),
                                                         impl_->logits_valid ? impl_->logits.size() : 0,
                                                         s.conv_state.size(), s.checkpoints, kv_bytes(s));
}

SessionSnapshot Session::snapshot() const {
    auto& s = const_cast<SequenceState&>(impl_->state);  // the KV accessors are not const; nothing is written
    auto d = std::make_shared<SessionSnapshot::Data>();
    d->fingerprint = impl_->model->impl().fingerprint;
    d->kv_type = s.kv_type;
    d->pos = s.pos;
    d->tokens = s.tokens;
    if (impl_->logits_valid) d->logits = impl_->logits;
    d->conv_state = s.conv_state;
    d->checkpoints = s.checkpoints;
    d->kv.resize(kv_bytes(s));
    uint8_t* out = d->kv.data();
    for_each_kv_run(s, [&](const uint8_t* p, size_t n) {
        if (n > 0) std::memcpy(out, p, n);
        out += n;
    });
    return SessionSnapshot(std::move(d));
}

void Session::restore(const SessionSnapshot& snapshot) {
    Impl& session = *impl_;
    session.clear();
    if (snapshot.empty()) return;
    const SessionSnapshot::Data& d = *snapshot.data_;
    SequenceState& s = session.state;
    if (d.fingerprint != session.model->impl().fingerprint)
        throw Error(ErrorCode::kInvalidArgument,
                    "cannot restore the session: the snapshot was made with another model");
    if (d.kv_type != s.kv_type)
        throw Error(ErrorCode::kInvalidArgument,
                    "cannot restore the session: the snapshot's KV type differs from this session's");
    if (d.pos > s.n_ctx)
        throw Error(ErrorCode::kContextOverflow,
                    fmt::format("cannot restore the session: the snapshot holds {} tokens; this session's "
                                "context has room for {}",
                                d.pos, s.n_ctx));
    s.pos = d.pos;
    s.tokens = d.tokens;
    s.conv_state = d.conv_state;
    s.checkpoints = d.checkpoints;
    s.trim_checkpoints(static_cast<size_t>(
        std::max(0, session.options.max_checkpoints)));  // a snapshot of a session that kept more
    const uint8_t* in = d.kv.data();
    for_each_kv_run(s, [&](uint8_t* p, size_t n) {
        if (n > 0) std::memcpy(p, in, n);
        in += n;
    });
    if (!d.logits.empty()) {
        session.logits = d.logits;
        session.logits_valid = true;
    }
}

}  // namespace lfm

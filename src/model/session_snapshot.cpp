// Session snapshots: a sequence's state copied to memory and back (Session::snapshot / restore),
// in the layout of the session file's sections, without the file.

#include <fmt/format.h>

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

size_t SessionSnapshot::bytes() const {
    if (!data_) return 0;
    const Data& d = *data_;
    size_t n = sizeof d + d.tokens.size() * sizeof(int32_t) + d.logits.size() * sizeof(float) +
               d.conv_state.size() * sizeof(float) + d.kv.size();
    for (const ConvCheckpoint& c : d.checkpoints) n += sizeof c + c.conv_state.size() * sizeof(float);
    return n;
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
    size_t total = 0;
    for_each_kv_run(s, [&](const uint8_t*, size_t n) { total += n; });
    d->kv.resize(total);
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
    const SessionSnapshot::Data& d = snapshot.data();
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

// The session file, little-endian, version 1:
//   "LFMSESS\x1a", u32 version
//   str fingerprint, str model description            (str: u32 length, bytes)
//   str app data (Chat: the conversation as JSON)
//   u32 KV type (DType id), i64 position P, i32 tokens[P]
//   u8 logits valid, f32 logits[n_vocab] if valid
//   u64 conv floats C, f32 conv state[C]
//   u32 checkpoints, each i64 position, f32 conv state[C]
//   KV rows: per attention layer, keys then values, per KV head, rows 0..P-1 (head-major, as held)
//   u64 FNV-1a of every byte before it
// A file is refused (clear error) when it was made with another model or quantization, another
// KV type, does not fit the session's context, is truncated, or does not match its checksum.

#include "session_file.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "hub/sha256.h"

namespace lfm {

namespace {

constexpr char kMagic[8] = {'L', 'F', 'M', 'S', 'E', 'S', 'S', '\x1a'};
constexpr uint32_t kVersion = 1;

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ull;

const char* kv_name(DType t) { return t == DType::kF16 ? "f16" : t == DType::kQ8_0 ? "q8_0" : "f32"; }  // as --kv-type

std::string describe(const ModelInfo& i) {
    return fmt::format("{} {}, {} layers, {} parameters", i.architecture, i.file_type, i.n_layer, i.n_params);
}

class Writer {
public:
    explicit Writer(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
        if (f_ == nullptr) throw Error(ErrorCode::kIo, path + ": cannot open the session file for writing");
    }
    ~Writer() {
        if (f_ != nullptr) std::fclose(f_);
    }
    void bytes(const void* p, size_t n) {
        hash_ = fnv1a(hash_, p, n);
        if (n > 0 && std::fwrite(p, 1, n, f_) != n) throw Error(ErrorCode::kIo, path_ + ": write failed (disk full?)");
    }
    template <class T>
    void value(T v) { bytes(&v, sizeof v); }
    void str(const std::string& s) {
        value(static_cast<uint32_t>(s.size()));
        bytes(s.data(), s.size());
    }
    void finish() {
        const uint64_t h = hash_;
        bytes(&h, sizeof h);
        const int rc = std::fclose(f_);
        f_ = nullptr;
        if (rc != 0) throw Error(ErrorCode::kIo, path_ + ": write failed");
    }

private:
    std::string path_;
    std::FILE* f_;
    uint64_t hash_ = kFnvBasis;
};

class Reader {
public:
    explicit Reader(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "rb")) {
        if (f_ == nullptr) throw Error(ErrorCode::kIo, path + ": cannot open the session file");
    }
    ~Reader() { std::fclose(f_); }
    void bytes(void* p, size_t n) {
        if (!try_bytes(p, n)) fail("the file is truncated");
    }
    bool try_bytes(void* p, size_t n) {
        if (n > 0 && std::fread(p, 1, n, f_) != n) return false;
        hash_ = fnv1a(hash_, p, n);
        return true;
    }
    template <class T>
    T value() {
        T v;
        bytes(&v, sizeof v);
        return v;
    }
    std::string str(size_t limit) {
        const auto n = value<uint32_t>();
        if (n > limit) fail("a header field is implausibly long (not a session file, or corrupt)");
        std::string s(n, '\0');
        bytes(s.data(), n);
        return s;
    }
    void check_sum() {
        const uint64_t expected = hash_;
        const auto stored = value<uint64_t>();
        if (stored != expected) fail("its checksum does not match: the file is corrupt");
        char extra;
        if (std::fread(&extra, 1, 1, f_) != 0) fail("there are bytes after its end: the file is corrupt");
    }
    [[noreturn]] void fail(const std::string& what) const {
        throw Error(ErrorCode::kInvalidFile, fmt::format("{}: cannot load the session: {}", path_, what));
    }

private:
    std::string path_;
    std::FILE* f_;
    uint64_t hash_ = kFnvBasis;
};

}  // namespace

std::string model_fingerprint(const Config& c, const Weights& w) {
    Sha256 h;
    const auto add = [&h](const void* p, size_t n) { h.update(p, n); };
    for (int64_t v : {c.n_embd, c.n_layer, c.n_head, c.n_head_kv, c.head_dim, c.n_ff, c.n_ff_exp, c.n_expert,
                      c.n_expert_used, c.conv_kernel, c.n_vocab})
        add(&v, sizeof v);
    const auto matrix = [&](const Matrix& m) {
        const int64_t shape[3] = {static_cast<int64_t>(m.type), m.n_in, m.n_out};
        add(shape, sizeof shape);
        if (m.data == nullptr) return;
        const size_t total = m.bytes(), sample = std::min<size_t>(64, total);
        for (size_t at : {size_t{0}, total / 3, 2 * total / 3, total - sample}) add(m.data + std::min(at, total - sample), sample);
    };
    const auto vec = [&](const float* v, int64_t n) {
        if (v != nullptr) add(v, static_cast<size_t>(std::min<int64_t>(n, 16)) * sizeof(float));
    };
    matrix(w.token_embd);
    matrix(w.output);
    vec(w.output_norm, c.n_embd);
    for (const LayerWeights& L : w.layers) {
        vec(L.attn_norm, c.n_embd);
        vec(L.ffn_norm, c.n_embd);
        vec(L.conv, c.n_embd * c.conv_kernel);
        vec(L.q_norm, c.head_dim);
        vec(L.k_norm, c.head_dim);
        vec(L.expert_bias, c.n_expert);
        for (const Matrix* m : {&L.in_proj, &L.out_proj, &L.wq, &L.wk, &L.wv, &L.wo, &L.ffn_gate, &L.ffn_up, &L.ffn_down, &L.router})
            matrix(*m);
        for (const auto* list : {&L.exp_gate, &L.exp_up, &L.exp_down})
            for (const Matrix& m : *list) matrix(m);
    }
    return h.hex_digest();
}

void save_session(const Session::Impl& session, const std::string& path, std::string_view app_data) {
    // Written beside the target and renamed over it: a failed save never spoils an older file.
    const std::string tmp = path + ".tmp";
    auto& s = const_cast<SequenceState&>(session.state);  // the KV accessors are not const; nothing is written
    try {
        Writer w(tmp);
        const Model::Impl& m = session.model->impl();
        w.bytes(kMagic, sizeof kMagic);
        w.value(kVersion);
        w.str(m.fingerprint);
        w.str(describe(m.info));
        w.str(std::string(app_data));
        w.value(static_cast<uint32_t>(s.kv_type));
        w.value(s.pos);
        w.bytes(s.tokens.data(), s.tokens.size() * sizeof(int32_t));
        w.value(static_cast<uint8_t>(session.logits_valid));
        if (session.logits_valid) w.bytes(session.logits.data(), session.logits.size() * sizeof(float));
        w.value(static_cast<uint64_t>(s.conv_state.size()));
        w.bytes(s.conv_state.data(), s.conv_state.size() * sizeof(float));
        w.value(static_cast<uint32_t>(s.checkpoints.size()));
        for (const ConvCheckpoint& c : s.checkpoints) {
            w.value(c.pos);
            w.bytes(c.conv_state.data(), c.conv_state.size() * sizeof(float));
        }
        for_each_kv_run(s, [&](const uint8_t* p, size_t n) { w.bytes(p, n); });
        w.finish();
    } catch (...) {
        std::remove(tmp.c_str());
        throw;
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        throw Error(ErrorCode::kIo, fmt::format("{}: cannot write the session file: {}", path, ec.message()));
    }
}

std::string load_session(Session::Impl& session, const std::string& path) {
    Reader r(path);
    SequenceState& s = session.state;
    const Model::Impl& m = session.model->impl();
    char magic[sizeof kMagic];
    if (!r.try_bytes(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof kMagic) != 0)
        r.fail("it is not an lfm session file");
    const auto version = r.value<uint32_t>();
    if (version != kVersion) r.fail(fmt::format("it is version {} of the format; this lfm reads version {}", version, kVersion));
    const std::string fingerprint = r.str(256), description = r.str(4096);
    if (fingerprint != m.fingerprint)
        r.fail(fmt::format("it was made with another model ({}); this one is {}", description, describe(m.info)));
    std::string app_data = r.str(size_t{1} << 30);
    const auto kv_type = r.value<uint32_t>();
    if (kv_type != static_cast<uint32_t>(DType::kF16) && kv_type != static_cast<uint32_t>(DType::kF32) &&
        kv_type != static_cast<uint32_t>(DType::kQ8_0))
        r.fail("its KV type is unknown: the file is corrupt");
    if (kv_type != static_cast<uint32_t>(s.kv_type))
        r.fail(fmt::format("its KV cache is {}; this session's is {} (use the same --kv-type)",
                           kv_name(static_cast<DType>(kv_type)), kv_name(s.kv_type)));
    const auto pos = r.value<int64_t>();
    if (pos < 0 || pos > s.n_ctx)
        r.fail(fmt::format("it holds {} tokens; this session's context has room for {} (use a larger -c)", pos, s.n_ctx));
    session.logits_valid = false;
    s.pos = pos;
    s.tokens.resize(static_cast<size_t>(pos));
    r.bytes(s.tokens.data(), s.tokens.size() * sizeof(int32_t));
    const auto logits_valid = r.value<uint8_t>();
    if (logits_valid > 1) r.fail("a header field is out of range: the file is corrupt");
    if (logits_valid) r.bytes(session.logits.data(), session.logits.size() * sizeof(float));
    if (r.value<uint64_t>() != s.conv_state.size()) r.fail("its conv state does not fit this model: the file is corrupt");
    r.bytes(s.conv_state.data(), s.conv_state.size() * sizeof(float));
    const auto n_checkpoints = r.value<uint32_t>();
    if (n_checkpoints > static_cast<uint32_t>(pos)) r.fail("it lists more checkpoints than positions: the file is corrupt");
    s.checkpoints.clear();
    for (uint32_t i = 0; i < n_checkpoints; ++i) {
        ConvCheckpoint c;
        c.pos = r.value<int64_t>();
        if (c.pos <= (s.checkpoints.empty() ? 0 : s.checkpoints.back().pos) || c.pos > pos)
            r.fail("its checkpoints are out of order: the file is corrupt");
        c.conv_state.resize(s.conv_state.size());
        r.bytes(c.conv_state.data(), c.conv_state.size() * sizeof(float));
        s.checkpoints.push_back(std::move(c));
    }
    for_each_kv_run(s, [&](uint8_t* p, size_t n) { r.bytes(p, n); });
    r.check_sum();
    const auto V = static_cast<int32_t>(m.info.n_vocab);
    for (int32_t id : s.tokens)
        if (id < 0 || id >= V) r.fail("it holds a token id outside the vocabulary: the file is corrupt");
    session.logits_valid = logits_valid != 0;
    return app_data;
}

}  // namespace lfm

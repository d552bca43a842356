// Synthetic LFM2-MoE models with random weights in a chosen type mix (`lfm synth`, `lfm bench
// --synthetic`). Weights are random bytes whose block scales are set so each matrix has roughly
// unit-variance outputs: the forward pass stays finite, which keeps the timing honest.

#include "lfm/synth.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../io/gguf_writer.h"
#include "lfm2.h"
#include "model_files.h"
#include "synth_vocab.h"

namespace lfm {

namespace {

struct Shape {
    std::string name;
    int64_t hidden = 2048, layers = 24, heads = 32, kv_heads = 8, dense_layers = 2, experts = 32, experts_used = 4;
    int64_t expert_ffn = 1792, dense_ffn = 7168, conv_L = 3, vocab = 128000, context = 128000;
    std::vector<int64_t> attn_layers{2, 6, 10, 14, 18, 21};
    double rope_theta = 5e6, norm_eps = 1e-5;
    SynthVocabLayout vocab_layout;  // n_vocab is `vocab`
};

// Where the special tokens sit when the shape does not say: LFM2.5's 128K vocabulary has them at
// 124893..124906, LFM2's 65K one at 0..13; a small vocabulary keeps LFM2's layout.
void default_vocab_layout(Shape& s) {
    s.vocab_layout.n_vocab = s.vocab;
    const bool top = s.vocab >= 124893 + 14;
    s.vocab_layout.specials = top ? "lfm2.5" : "lfm2";
    s.vocab_layout.special_tokens_at = top ? 124893 : 0;
    s.vocab_layout.n_merges = std::min<int64_t>(s.vocab - 270, 293320);  // one merge per merged token
}

Shape shape_from(const std::string& spec) {
    Shape s;
    if (spec == "lfm2.5-8b-a1b" || spec.empty()) {  // the real tokenizer's counts
        s.name = "LFM2.5-8B-A1B (synthetic)";
        default_vocab_layout(s);
        s.vocab_layout.n_merges = 293320;
        return s;
    }
    if (spec == "lfm2-8b-a1b") {
        s.name = "LFM2-8B-A1B (synthetic)";
        s.vocab = 65536;
        s.rope_theta = 1e6;
        default_vocab_layout(s);
        s.vocab_layout.n_merges = 63683;
        return s;
    }
    std::ifstream in(spec);
    if (!in) throw Error(ErrorCode::kInvalidArgument, "--shape '" + spec + "' is neither lfm2.5-8b-a1b, lfm2-8b-a1b nor a readable JSON file");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorCode::kInvalidFile, spec + ": not valid JSON: " + e.what());
    }
    try {
        s.name = j.value("name", "custom (synthetic)");
        s.hidden = j.value("hidden_size", s.hidden);
        s.layers = j.value("n_layers", s.layers);
        s.heads = j.value("n_heads", s.heads);
        s.kv_heads = j.value("n_kv_heads", s.kv_heads);
        s.dense_layers = j.value("n_dense_layers", s.dense_layers);
        s.experts = j.value("n_experts", s.experts);
        s.experts_used = j.value("n_experts_used", s.experts_used);
        s.expert_ffn = j.value("expert_ffn", s.expert_ffn);
        s.dense_ffn = j.value("dense_ffn", s.dense_ffn);
        s.conv_L = j.value("conv_L", s.conv_L);
        s.vocab = j.value("vocab_size", s.vocab);
        s.context = j.value("context_length", s.context);
        s.attn_layers = j.value("attn_layers", s.attn_layers);
        s.rope_theta = j.value("rope_theta", s.rope_theta);
        s.norm_eps = j.value("norm_eps", s.norm_eps);
        default_vocab_layout(s);
        // "vocab_layout": "lfm2.5" puts LFM2.5's specials at "special_tokens_at" (default: the
        // top 14 ids), "lfm2" LFM2's at 0; "n_merges": the merge count
        if (j.contains("vocab_layout")) {
            s.vocab_layout.specials = j.at("vocab_layout").get<std::string>();
            const bool lfm25 = s.vocab_layout.specials == "lfm2.5";
            s.vocab_layout.special_tokens_at = !lfm25 ? 0 : s.vocab >= 124893 + 14 ? 124893 : s.vocab - 14;
        }
        s.vocab_layout.special_tokens_at = j.value("special_tokens_at", s.vocab_layout.special_tokens_at);
        s.vocab_layout.n_merges = j.value("n_merges", s.vocab_layout.n_merges);
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorCode::kInvalidFile, spec + ": " + e.what());
    }
    if (s.hidden < 1 || s.hidden > 65536 || s.layers < 1 || s.layers > 1024 || s.vocab < 300 || s.heads < 1 ||
        s.kv_heads < 1 || s.heads % s.kv_heads != 0 || s.hidden % s.heads != 0)
        throw Error(ErrorCode::kInvalidFile, spec + ": shape out of range");
    return s;
}

// xorshift64*: fast enough to fill gigabytes.
struct Rng {
    uint64_t s;
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1DULL;
    }
};

uint64_t seed_for(uint64_t seed, const std::string& name) {
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    return h | 1;
}

// Random bytes for a weight tensor of `type` with rows of n_in, scales set for ~1/sqrt(n_in)
// weights.
void fill_weights(DType type, int64_t n_in, uint64_t seed, uint8_t* out, size_t nbytes) {
    Rng rng{seed};
    for (size_t i = 0; i + 8 <= nbytes; i += 8) {
        const uint64_t r = rng.next();
        std::memcpy(out + i, &r, 8);
    }
    for (size_t i = nbytes / 8 * 8; i < nbytes; ++i) out[i] = static_cast<uint8_t>(rng.next());
    const float target = 1.0f / std::sqrt(static_cast<float>(n_in));
    auto put_f16 = [&](size_t at, float v) {
        const f16_t h = f32_to_f16(v);
        std::memcpy(out + at, &h, 2);
    };
    const DTypeTraits& tr = traits(type);
    const size_t bb = static_cast<size_t>(tr.block_bytes);
    switch (type) {
        case DType::kF32:
            for (size_t i = 0; i + 4 <= nbytes; i += 4) {
                float v;
                uint32_t r;
                std::memcpy(&r, out + i, 4);
                v = (static_cast<float>(r >> 8) / 16777216.0f - 0.5f) * 3.46f * target;  // uniform, std target
                std::memcpy(out + i, &v, 4);
            }
            break;
        case DType::kF16: case DType::kBF16:
            for (size_t i = 0; i + 2 <= nbytes; i += 2) {
                uint16_t r;
                std::memcpy(&r, out + i, 2);
                const float v = (static_cast<float>(r) / 65536.0f - 0.5f) * 3.46f * target;
                const uint16_t h = type == DType::kF16 ? f32_to_f16(v) : f32_to_bf16(v);
                std::memcpy(out + i, &h, 2);
            }
            break;
        case DType::kQ4_0: case DType::kQ5_0:
            for (size_t b = 0; b < nbytes / bb; ++b) put_f16(b * bb, target / 4.6f);
            break;
        case DType::kQ8_0:
            for (size_t b = 0; b < nbytes / bb; ++b) put_f16(b * bb, target / 73.0f);
            break;
        case DType::kQ4_1: case DType::kQ5_1: case DType::kQ4_K: case DType::kQ5_K:
            for (size_t b = 0; b < nbytes / bb; ++b) {
                put_f16(b * bb, target / 150.0f);
                put_f16(b * bb + 2, target / 150.0f);
            }
            break;
        case DType::kQ6_K:
            for (size_t b = 0; b < nbytes / bb; ++b) put_f16(b * bb + 208, target / 1300.0f);
            break;
        case DType::kQ2_K:  // d, dmin at 80, 82: values d·sc·q - dmin·m with sc, m 0..15 and q 0..3
            for (size_t b = 0; b < nbytes / bb; ++b) {
                put_f16(b * bb + 80, target / 20.0f);
                put_f16(b * bb + 82, target / 20.0f);
            }
            break;
        case DType::kQ3_K:  // d at 108: values d·(sc - 32)·q with q -4..3
            for (size_t b = 0; b < nbytes / bb; ++b) put_f16(b * bb + 108, target / 60.0f);
            break;
        case DType::kIQ4_NL:  // d at 0: values d·table, the table's values -127..113
            for (size_t b = 0; b < nbytes / bb; ++b) put_f16(b * bb, target / 70.0f);
            break;
        case DType::kIQ4_XS:  // d at 0: values d·(ls - 32)·table, ls the 6-bit sub-scales
            for (size_t b = 0; b < nbytes / bb; ++b) put_f16(b * bb, target / 1300.0f);
            break;
        case DType::kMXFP4:  // exponent byte e at 0: values 2^(e - 128)·table, the table's values -12..12
            for (size_t b = 0; b < nbytes / bb; ++b)
                out[b * bb] = static_cast<uint8_t>(128 + std::lround(std::log2(target / 6.0f)));
            break;
        default: throw Error(ErrorCode::kUnsupported, std::string("synth: no generator for ") + dtype_name(type));
    }
}

// llama.cpp's use_more_bits rule (gguf.md §6.4), used by Q4_K_M for attn_v and ffn_down.
bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

struct TypePlan {
    DType base, embd, attn_v_more, down_more;
    uint32_t file_type;
};

TypePlan plan_for(const std::string& type) {
    // llama-quantize stores the output tensor (here the tied embedding) as Q6_K in Q4_0 files
    if (type == "Q4_0") return {DType::kQ4_0, DType::kQ6_K, DType::kQ4_0, DType::kQ4_0, 2};
    if (type == "Q8_0") return {DType::kQ8_0, DType::kQ8_0, DType::kQ8_0, DType::kQ8_0, 7};
    if (type == "F16") return {DType::kF16, DType::kF16, DType::kF16, DType::kF16, 1};
    if (type == "BF16") return {DType::kBF16, DType::kBF16, DType::kBF16, DType::kBF16, 32};
    if (type == "F32") return {DType::kF32, DType::kF32, DType::kF32, DType::kF32, 0};
    if (type == "Q4_K_M") return {DType::kQ4_K, DType::kQ6_K, DType::kQ6_K, DType::kQ6_K, 15};
    // llama-quantize's Q5_K_M takes Q4_K_M's rules with Q5_K as the default; its Q6_K is Q6_K
    // throughout (with 32 experts, no rule of either raises attn_output or attn_v further)
    if (type == "Q5_K_M") return {DType::kQ5_K, DType::kQ6_K, DType::kQ6_K, DType::kQ6_K, 17};
    if (type == "Q6_K") return {DType::kQ6_K, DType::kQ6_K, DType::kQ6_K, DType::kQ6_K, 18};
    // Not llama-quantize's Q2_K / Q3_K_S mixes (they raise attn_v and ffn_down): every matrix of
    // the type, the tied embedding Q6_K as llama-quantize keeps the output tensor; for speed figures
    // of the type's kernels (file types 10 and 11, the nearest names)
    if (type == "Q2_K") return {DType::kQ2_K, DType::kQ6_K, DType::kQ2_K, DType::kQ2_K, 10};
    if (type == "Q3_K") return {DType::kQ3_K, DType::kQ6_K, DType::kQ3_K, DType::kQ3_K, 11};
    // likewise for the non-linear 4-bit types of community mixes (file types IQ4_NL 25, IQ4_XS 30,
    // MXFP4_MOE 38)
    if (type == "IQ4_NL") return {DType::kIQ4_NL, DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_NL, 25};
    if (type == "IQ4_XS") return {DType::kIQ4_XS, DType::kQ6_K, DType::kIQ4_XS, DType::kIQ4_XS, 30};
    if (type == "MXFP4") return {DType::kMXFP4, DType::kQ6_K, DType::kMXFP4, DType::kMXFP4, 38};
    throw Error(ErrorCode::kInvalidArgument,
                "unknown type mix '" + type +
                    "' (Q2_K, Q3_K, IQ4_NL, IQ4_XS, MXFP4, Q4_0, Q4_K_M, Q5_K_M, Q6_K, Q8_0, F16, BF16, F32)");
}

// A byte-level vocabulary of the model's size with the real files' layout (synth_vocab.h), so
// the tokenizer and llama.cpp both load it.
void add_tokenizer(GgufWriter& w, const SynthVocabLayout& layout) {
    const SynthVocab v = synthetic_vocab(layout);
    w.add_string("tokenizer.ggml.model", "gpt2");
    w.add_string("tokenizer.ggml.pre", "lfm2");
    w.add_string_array("tokenizer.ggml.tokens", v.tokens);
    w.add_i32_array("tokenizer.ggml.token_type", v.types);
    w.add_string_array("tokenizer.ggml.merges", v.merges);
    w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos));
    w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos));
    w.add_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(v.pad));
    w.add_bool("tokenizer.ggml.add_bos_token", true);
    w.add_bool("tokenizer.ggml.add_eos_token", false);
}

GgufWriter make_writer(const SynthOptions& o) {
    const Shape s = shape_from(o.shape);
    const TypePlan plan = plan_for(o.type);
    GgufWriter w;
    const std::string a = "lfm2moe.";
    w.add_string("general.architecture", "lfm2moe");
    w.add_string("general.name", s.name);
    w.add_u32("general.file_type", plan.file_type);
    w.add_u32("general.quantization_version", 2);
    w.add_u32(a + "context_length", static_cast<uint32_t>(s.context));
    w.add_u32(a + "embedding_length", static_cast<uint32_t>(s.hidden));
    w.add_u32(a + "block_count", static_cast<uint32_t>(s.layers));
    w.add_u32(a + "feed_forward_length", static_cast<uint32_t>(s.dense_ffn));
    w.add_u32(a + "expert_feed_forward_length", static_cast<uint32_t>(s.expert_ffn));
    w.add_u32(a + "expert_count", static_cast<uint32_t>(s.experts));
    w.add_u32(a + "expert_used_count", static_cast<uint32_t>(s.experts_used));
    w.add_u32(a + "leading_dense_block_count", static_cast<uint32_t>(s.dense_layers));
    w.add_u32(a + "expert_gating_func", 2);
    w.add_u32(a + "attention.head_count", static_cast<uint32_t>(s.heads));
    std::vector<int32_t> kv(static_cast<size_t>(s.layers), 0);
    for (int64_t l : s.attn_layers) {
        if (l < 0 || l >= s.layers) throw Error(ErrorCode::kInvalidArgument, "attention layer index out of range in the shape");
        kv[static_cast<size_t>(l)] = static_cast<int32_t>(s.kv_heads);
    }
    w.add_i32_array(a + "attention.head_count_kv", kv);
    w.add_f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(s.norm_eps));
    w.add_f32(a + "rope.freq_base", static_cast<float>(s.rope_theta));
    w.add_u32(a + "vocab_size", static_cast<uint32_t>(s.vocab));
    w.add_u32(a + "shortconv.l_cache", static_cast<uint32_t>(s.conv_L));
    add_tokenizer(w, s.vocab_layout);

    const int64_t H = s.hidden, d = H / s.heads;
    auto matrix = [&](const std::string& name, DType t, std::vector<int64_t> ne) {
        const int64_t n_in = ne[0];
        const uint64_t seed = seed_for(o.seed, name);
        w.add_tensor_lazy(name, t, ne, [t, n_in, seed](uint8_t* out, size_t nbytes) { fill_weights(t, n_in, seed, out, nbytes); });
    };
    auto constant = [&](const std::string& name, std::vector<int64_t> ne, float value) {
        w.add_tensor_lazy(name, DType::kF32, ne, [value](uint8_t* out, size_t nbytes) {
            for (size_t i = 0; i + 4 <= nbytes; i += 4) std::memcpy(out + i, &value, 4);
        });
    };
    matrix("token_embd.weight", plan.embd, {H, s.vocab});
    constant("token_embd_norm.weight", {H}, 1.0f);
    int64_t n_attn_seen = 0;
    const int64_t n_attn = static_cast<int64_t>(s.attn_layers.size());
    for (int64_t l = 0; l < s.layers; ++l) {
        const std::string p = fmt::format("blk.{}.", l);
        constant(p + "attn_norm.weight", {H}, 1.0f);
        constant(p + "ffn_norm.weight", {H}, 1.0f);
        if (kv[static_cast<size_t>(l)] > 0) {
            matrix(p + "attn_q.weight", plan.base, {H, s.heads * d});
            matrix(p + "attn_k.weight", plan.base, {H, s.kv_heads * d});
            matrix(p + "attn_v.weight", use_more_bits(n_attn_seen++, n_attn) ? plan.attn_v_more : plan.base, {H, s.kv_heads * d});
            matrix(p + "attn_output.weight", plan.base, {s.heads * d, H});
            constant(p + "attn_q_norm.weight", {d}, 1.0f);
            constant(p + "attn_k_norm.weight", {d}, 1.0f);
        } else {
            matrix(p + "shortconv.in_proj.weight", plan.base, {H, 3 * H});
            matrix(p + "shortconv.conv.weight", DType::kF32, {s.conv_L, H});
            matrix(p + "shortconv.out_proj.weight", plan.base, {H, H});
        }
        const DType down = use_more_bits(l, s.layers) ? plan.down_more : plan.base;
        if (l < s.dense_layers) {
            matrix(p + "ffn_gate.weight", plan.base, {H, s.dense_ffn});
            matrix(p + "ffn_up.weight", plan.base, {H, s.dense_ffn});
            matrix(p + "ffn_down.weight", down, {s.dense_ffn, H});
        } else {
            matrix(p + "ffn_gate_inp.weight", DType::kF32, {H, s.experts});
            constant(p + "exp_probs_b.bias", {s.experts}, 0.0f);
            matrix(p + "ffn_gate_exps.weight", plan.base, {H, s.expert_ffn, s.experts});
            matrix(p + "ffn_up_exps.weight", plan.base, {H, s.expert_ffn, s.experts});
            matrix(p + "ffn_down_exps.weight", down, {s.expert_ffn, H, s.experts});
        }
    }
    return w;
}

}  // namespace

void write_synthetic_gguf(const std::string& path, const SynthOptions& options) { make_writer(options).write(path); }

SynthLayout synthetic_layout(const SynthOptions& options) {
    const GgufWriter w = make_writer(options);
    SynthLayout l;
    l.header_bytes = w.header_bytes();
    w.for_each_tensor([&](const std::string&, DType type, uint64_t padded_bytes) {
        l.tensor_data_bytes += padded_bytes;
        ++l.tensors_by_type[dtype_name(type)];
    });
    return l;
}

std::shared_ptr<const Model> synthetic_model(const SynthOptions& options, const ModelOptions& model_options) {
    auto file = std::make_shared<const MappedFile>(make_writer(options).to_buffer(), "synthetic:" + options.type);
    return make_model(open_model_files(std::move(file)), model_options);
}

}  // namespace lfm

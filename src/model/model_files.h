#pragma once
// Opens a model from disk, whichever format it is in: a GGUF file, or a Hugging Face directory
// (config.json + model.safetensors or sharded safetensors). The result names every tensor the
// GGUF way, so binding weights (weights.cpp) has one vocabulary. Hugging Face per-expert
// matrices are named "<gguf stacked name>.<expert>", e.g. "blk.3.ffn_gate_exps.weight.7".

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "../io/gguf.h"
#include "../io/mapped_file.h"
#include "../io/tensor_info.h"
#include "config.h"

namespace lfm {

enum class ModelFormat { kGguf, kHuggingFace };

struct ModelFiles {
    std::string path;
    ModelFormat format = ModelFormat::kGguf;
    Config config;
    std::vector<std::shared_ptr<const MappedFile>> mapped;
    std::unique_ptr<GgufFile> gguf;  // GGUF only: metadata (tokenizer, template, ...)
    std::string hf_dir;              // Hugging Face only
    std::vector<TensorInfo> tensors;  // GGUF names
    uint64_t file_bytes = 0;          // on disk, all files together

    const TensorInfo* find(const std::string& name) const;
    void build_index();

private:
    std::unordered_map<std::string, size_t> index_;
};

// Throws lfm::Error naming the path and the problem.
ModelFiles open_model_files(const std::string& path);
// A GGUF image already in memory (synthetic models).
ModelFiles open_model_files(std::shared_ptr<const MappedFile> gguf);

// The GGUF name of a Hugging Face checkpoint tensor, or "" for a name we do not know.
// Fused expert tensors are not handled here (open_model_files splits them).
std::string hf_to_gguf_name(const std::string& hf_name);

}  // namespace lfm

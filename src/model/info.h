#pragma once

#include "lfm/model.h"
#include "model_files.h"
#include "weights.h"

namespace lfm {

ModelInfo make_info(const ModelFiles& files, const Weights& weights);

}  // namespace lfm

// pipeline.hpp — pipeline-parallel inference: a model too large for one process split over
// the ranks of a Collective. Rank r holds a contiguous stage of the layers and rows
// [r·V/W, (r+1)·V/W) of the embedding (the tied head too), so each holds about 1/W of the
// weights. A forward, made by every rank with the same tokens and its own state:
//   embedding   each rank looks up the tokens in its rows (zeros for the others'), all-reduce
//   layers      stage by stage: receive the residual stream, run the stage, send it on
//   head        the last stage's final norm broadcast; each rank its slice of the logits,
//               all-reduced into the full [B, T, V] on every rank
// Every sum adds one rank's value to zeros, so it is exact: the logits are those of one
// process, and greedy or seeded generation agrees on every rank. One sequence passes one stage
// at a time: this buys memory, not speed. Inference only.
#pragma once
#include <memory>
#include <string>
#include <utility>

#include "xla/collective.hpp"
#include "xla/model.hpp"

namespace xla {

// Every rank of `collective` calls it with the same folder and dtype (F32 or BF16). Gemma
// folders only (Status::Unsupported for another family); Status::InvalidArg when there are
// more ranks than layers. The model keeps the collective. Its forward() is the one above;
// hidden states are not gathered (Status::Unsupported when asked for); training, saving,
// cloning and LoRA are Status::Unsupported.
std::unique_ptr<Model> load_pipeline(const std::string& dir, std::shared_ptr<Collective> collective,
                                     DType dtype = DType::F32);

// The layers [first, end) that stage `rank` of `ranks` holds of `layers`: contiguous, in
// order, sizes differing by at most one (the first stages take the extra ones).
std::pair<int64_t, int64_t> pipeline_stage(int64_t layers, int rank, int ranks);

}  // namespace xla

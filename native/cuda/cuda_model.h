// The whole model on a CUDA device behind the Backend interface (native/src/backend.h): forward,
// backward, losses, AdamW and the KV-cached sampler, mirroring Model<float> (native/src/model.h)
// step by step. Plain C++ (a pimpl, no CUDA types) so the g++-built binding can hold one; the
// implementation (cuda_model.cpp) only calls the launchers of cuda_backend.h.
//
// Where the work runs: GEMMs, norms, attention, activations, logits, softmax statistics and their
// gradients, AdamW and the gradient norm on the device. On the host, in the code the CPU backend runs
// too: per-token loss terms (BatchLoss, native/src/batch_loss.h, one scalar per response token), batch
// checks (seq_batch.h), sampling from copied logits rows and finish reasons (Decoding, generation.h).
//
// Layout choices that differ from the CPU backend but not its results:
// - training and scoring run sequences in padded batches (right padding to the longest sequence of
//   a chunk): causal attention keeps padded rows out of every real row, and padded rows get a zero
//   gradient, so each real row sees exactly what the CPU's one-sequence-at-a-time loop sees;
// - generation decodes the n samples of one prompt together against a device KV cache
//   [layers][n][cap][kvDim]; prompts are processed one after another.
#pragma once
#include <memory>
#include <vector>

#include "../src/backend.h"
#include "cuda_backend.h"

namespace arclight {
namespace cuda {

class CudaModel final : public Backend {
 public:
  // Uploads the host model's weights, AdamW moments (when it has them) and step. Throws
  // CudaError when the device cannot hold them.
  CudaModel(const Model<float>& host, MathMode mode);
  ~CudaModel() override;
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  const char* device() const override { return "cuda"; }
  const char* precision() const override;
  const ModelConfig& config() const override;
  size_t numParams() const override;
  long step() const override;
  StepStats trainStep(const SeqBatch& b, const LossConfig& loss, const OptimConfig& opt) override;
  void score(const SeqBatch& b, std::vector<double>* logprobs, std::vector<double>* entropy) override;
  GenResult generate(const GenRequest& r) override;
  const Model<float>& host() override;
  void setCancelFlag(std::atomic<bool>* flag) override;
  std::unique_ptr<Backend> clone() override;

  // Test hook for the parity binary: loss, metrics and the gradient of every parameter (host
  // layout, Model::params offsets) without an optimizer step; the weights are left unchanged.
  StepStats lossAndGradients(const SeqBatch& b, const LossConfig& loss, std::vector<float>* grads);
  // Test hook: at most this many padded rows per chunk (0: the default, bounded by the vocabulary),
  // so that small tests reach the multi-chunk path.
  void setChunkRows(size_t rows);

 private:
  struct Impl;
  std::unique_ptr<Impl> p_;
};

}  // namespace cuda
}  // namespace arclight

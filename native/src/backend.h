// The one interface the N-API binding talks to: a policy's weights, optimizer
// state and the calls made on them, on the CPU (Model<float>) or on a CUDA
// device (native/cuda/cuda_model.h). Chosen once, when the policy is created
// or loaded; checkpoints and clones go through the host snapshot so both
// backends read and write the same files.
#pragma once
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "model.h"

namespace arclight {

class Backend {
 public:
  virtual ~Backend() = default;
  // "cpu" | "cuda": what actually runs the model.
  virtual const char* device() const = 0;
  // "fp32" | "bf16" (GEMM operands; master weights and optimizer state stay fp32).
  virtual const char* precision() const = 0;
  virtual const ModelConfig& config() const = 0;
  virtual size_t numParams() const = 0;
  virtual long step() const = 0;

  // One optimizer step: zero grads, loss + backward, global-norm clip, AdamW (Model::train_step semantics).
  virtual StepStats trainStep(const SeqBatch& b, const LossConfig& loss, const OptimConfig& opt) = 0;
  // Teacher-forced logprob and entropy of every response token, in batch order.
  virtual void score(const SeqBatch& b, std::vector<double>* logprobs, std::vector<double>* entropy) = 0;
  virtual GenResult generate(const GenRequest& r) = 0;
  // Loss and gradients of the batch without an update; the gradients are then in host().g
  // (laid out like host().w). For reference tests and debugging.
  virtual StepStats gradients(const SeqBatch&, const LossConfig&) {
    throw std::runtime_error(std::string("gradients are available on the CPU backend only, this policy runs on ") +
                             device());
  }

  // Weights, AdamW moments (empty before the first step) and step counter as a host model,
  // current as of this call: what save_checkpoint writes and clone copies.
  virtual const Model<float>& host() = 0;
  // The host model to change in place (loading adapters), or null where the host is only a snapshot.
  virtual Model<float>* mutableHost() { return nullptr; }
  // Makes the named LoRA adapter the one the next calls use (Model::use_adapter); backends without
  // adapters know only "default".
  virtual void useAdapter(const std::string& name) {
    if (name != "default")
      throw std::invalid_argument(std::string("named adapters run on the CPU backend only; this policy runs on ") +
                                  device());
  }
  // Checked between layers, sequences and decoded tokens.
  virtual void setCancelFlag(std::atomic<bool>* flag) = 0;
  // An independent copy on the same device (weights, optimizer state and step).
  virtual std::unique_ptr<Backend> clone() = 0;
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(std::unique_ptr<Model<float>> m) : m_(std::move(m)) {}
  const char* device() const override { return "cpu"; }
  const char* precision() const override { return "fp32"; }
  const ModelConfig& config() const override { return m_->cfg; }
  size_t numParams() const override { return m_->numParams(); }
  long step() const override { return m_->step; }
  StepStats trainStep(const SeqBatch& b, const LossConfig& loss, const OptimConfig& opt) override {
    return m_->train_step(b, loss, opt);
  }
  void score(const SeqBatch& b, std::vector<double>* lp, std::vector<double>* ent) override {
    m_->score(b, nullptr, lp, ent);
  }
  GenResult generate(const GenRequest& r) override { return m_->generate(r); }
  StepStats gradients(const SeqBatch& b, const LossConfig& loss) override { return m_->compute_gradients(b, loss); }
  const Model<float>& host() override { return *m_; }
  Model<float>* mutableHost() override { return m_.get(); }
  void useAdapter(const std::string& name) override { m_->use_adapter(name); }
  void setCancelFlag(std::atomic<bool>* flag) override { m_->cancelFlag = flag; }
  std::unique_ptr<Backend> clone() override {
    auto copy = std::make_unique<Model<float>>(*m_);
    copy->cancelFlag = nullptr;
    return std::make_unique<CpuBackend>(std::move(copy));
  }

 private:
  std::unique_ptr<Model<float>> m_;
};

}  // namespace arclight

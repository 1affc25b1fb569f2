// Model configuration shared by the three families (GPT-2; Qwen2 and Llama,
// which share one RMSNorm + RoPE + SwiGLU block and differ in the q/k/v bias
// and Llama 3's RoPE scaling), with checks that run before any buffer is sized from it.
#pragma once
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace arclight {

// LoRA adapter targets, in PEFT's module names (Qwen2 / Llama layouts).
enum LoraTarget { kLoraQ = 0, kLoraK, kLoraV, kLoraO, kLoraGate, kLoraUp, kLoraDown, kLoraTargets };
inline const char* lora_target_name(int t) {
  static const char* names[kLoraTargets] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                            "gate_proj", "up_proj", "down_proj"};
  return names[t];
}
inline int lora_target_index(const std::string& name) {
  for (int t = 0; t < kLoraTargets; t++)
    if (name == lora_target_name(t)) return t;
  return -1;
}

// Low-rank adapters over a frozen base (PEFT semantics: y = W x + (alpha / rank) * B A dropout(x),
// A [rank, in] kaiming-uniform, B [out, rank] zero). rank 0 = no adapters, everything trains.
struct LoraConfig {
  int rank = 0;
  double alpha = 16;
  double dropout = 0;
  unsigned targets = 0;  // bit t = LoraTarget t
  bool has(int t) const { return rank > 0 && (targets >> t & 1u); }
  double scale() const { return alpha / rank; }
};

struct ModelConfig {
  std::string family = "gpt2";  // "gpt2" | "qwen2" | "llama"
  int layers = 2;
  int dModel = 64;
  int heads = 4;
  int kvHeads = 4;
  int vocab = 260;
  int ctx = 128;
  int ffn = 0;  // 0: 4 * dModel
  double normEps = 1e-5;
  double ropeTheta = 10000.0;
  bool tieEmbeddings = true;
  // Llama 3 rope_scaling ("rope_type": "llama3"); ropeFactor 0 means plain RoPE.
  double ropeFactor = 0, ropeLowFreqFactor = 1, ropeHighFreqFactor = 4;
  int ropeOriginalCtx = 8192;
  LoraConfig lora;

  // RMSNorm + RoPE + SwiGLU, no position embeddings (Qwen2 and Llama); else GPT-2's block.
  bool qwen() const { return family == "qwen2" || family == "llama"; }
  bool qkvBias() const { return family != "llama"; }
  bool ropeScaled() const { return ropeFactor > 0; }

  // Per-pair rotary frequencies theta^(-2j/D), j < D/2, with Llama 3's scaling when set
  // (transformers' _compute_llama3_parameters: long wavelengths divided by the factor,
  // short ones kept, a linear blend in between), in double.
  std::vector<double> ropeInvFreq() const {
    const int D = headDim();
    std::vector<double> f(D / 2);
    for (int j = 0; j < D / 2; j++) f[j] = std::pow(ropeTheta, -2.0 * j / D);
    if (!ropeScaled()) return f;
    const double pi = 3.14159265358979323846;
    const double lowWave = ropeOriginalCtx / ropeLowFreqFactor, highWave = ropeOriginalCtx / ropeHighFreqFactor;
    for (double& x : f) {
      const double wave = 2 * pi / x;
      if (wave > lowWave) {
        x = x / ropeFactor;
        continue;
      }
      if (wave < highWave) continue;
      const double smooth = (ropeOriginalCtx / wave - ropeLowFreqFactor) / (ropeHighFreqFactor - ropeLowFreqFactor);
      x = (1 - smooth) * x / ropeFactor + smooth * x;
    }
    return f;
  }
  int headDim() const { return dModel / heads; }
  int ffnDim() const { return ffn > 0 ? ffn : 4 * dModel; }
  int qkvDim() const { return (heads + 2 * kvHeads) * headDim(); }
  int kvDim() const { return kvHeads * headDim(); }

  // A token id the embedding table holds; the one check batches, prompts and forward make.
  void checkToken(int t) const {
    if (t < 0 || t >= vocab)
      throw std::out_of_range("token id " + std::to_string(t) + " outside vocab [0, " + std::to_string(vocab) + ")");
  }

  void validate() const {
    auto bad = [](const std::string& m) { throw std::invalid_argument("model config: " + m); };
    if (family != "gpt2" && family != "qwen2" && family != "llama")
      bad("family must be \"gpt2\", \"qwen2\" or \"llama\", got \"" + family + "\"");
    if (layers < 1 || layers > 256) bad("layers must be in [1, 256]");
    if (dModel < 2 || dModel > 16384) bad("dModel must be in [2, 16384]");
    if (heads < 1 || dModel % heads != 0) bad("heads must divide dModel");
    if (kvHeads < 1 || heads % kvHeads != 0) bad("kvHeads must divide heads");
    if (family == "gpt2" && kvHeads != heads) bad("gpt2 uses kvHeads == heads");
    if (qwen() && headDim() % 2 != 0) bad(family + " needs an even head dimension for RoPE");
    if (ropeScaled() && family != "llama") bad("RoPE scaling is a llama family setting");
    if (ropeScaled() &&
        !(ropeFactor >= 1 && ropeLowFreqFactor > 0 && ropeHighFreqFactor > ropeLowFreqFactor && ropeOriginalCtx >= 1))
      bad("Llama 3 RoPE scaling needs factor >= 1, 0 < lowFreqFactor < highFreqFactor and "
          "originalMaxPositionEmbeddings >= 1");
    if (vocab < 2 || vocab > (1 << 22)) bad("vocab must be in [2, 4194304]");
    if (ctx < 2 || ctx > (1 << 20)) bad("ctx must be in [2, 1048576]");
    if (ffn < 0 || ffn > (1 << 20)) bad("ffn must be in [0, 1048576]");
    if (!(normEps > 0 && normEps < 1)) bad("normEps must be in (0, 1)");
    if (!(ropeTheta > 1)) bad("ropeTheta must be > 1");
    if (lora.rank != 0) {
      if (family == "gpt2")
        bad("LoRA adapters need the qwen2 or llama family (PEFT module names q_proj ... down_proj)");
      if (lora.rank < 1 || lora.rank > 4096) bad("lora.rank must be in [1, 4096]");
      if (!(lora.alpha > 0)) bad("lora.alpha must be > 0");
      if (!(lora.dropout >= 0 && lora.dropout < 1)) bad("lora.dropout must be in [0, 1)");
      if (lora.targets == 0 || lora.targets >= (1u << kLoraTargets))
        bad("lora.targets must name at least one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
    }
    if (family == "gpt2" && !tieEmbeddings) bad("gpt2 always ties the head to wte");
  }
};

}  // namespace arclight

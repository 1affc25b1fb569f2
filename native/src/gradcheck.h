// Gradient check: hand-written backward (fp32 and fp64 builds of the same
// template) against float64 central differences of the full loss.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "model.h"

namespace arclight {

struct GradCheckResult {
  double relErrF32 = 0;     // ||g_f32 - g_num|| / ||g_num||
  double relErrF64 = 0;     // ||g_f64 - g_num|| / ||g_num||
  double maxAbsErrF64 = 0;  // max_i |g_f64 - g_num| / (max_i |g_num|)
  double gradNorm = 0;
  long checked = 0;
};

// Checks every `stride`-th parameter. Weights are drawn in double, rounded to
// fp32 and copied back, so all three gradients are of the very same function.
// With a named `adapter` (LoRA), the default adapter is given nonzero weights and parked, and the
// check runs on the named one swapped in over the same base.
inline GradCheckResult gradcheck(const ModelConfig& cfg, const SeqBatch& b, const LossConfig& lc, uint64_t seed,
                                 double initScale, int stride, const std::string& adapter = "default") {
  // Dropout draws a new mask per forward, so central differences would not see the same function.
  if (cfg.lora.dropout > 0) throw std::invalid_argument("gradcheck needs lora.dropout = 0");
  Model<double> md(cfg);
  md.init(seed);
  // Larger-than-GPT-2 weights so every path carries a gradient well above rounding noise.
  Rng rng(seed + 17);
  for (auto& x : md.w) x = x * initScale + (x == 0 ? 0.05 * rng.normal() : 0.0);
  if (adapter != md.activeAdapter) {
    md.use_adapter(adapter);
    for (size_t i = md.trainableBase(); i < md.numParams(); i++)
      md.w[i] = md.w[i] * initScale + (md.w[i] == 0 ? 0.05 * rng.normal() : 0.0);
  }
  Model<float> mf(cfg);
  mf.use_adapter(adapter);
  mf.copy_weights_from(md);
  md.copy_weights_from(mf);
  // only trained parameters have gradients (with LoRA: the adapters; g covers [base, numParams))
  const size_t n = md.numParams(), base = md.trainableBase();
  mf.g.assign(n - base, 0.0f);
  md.g.assign(n - base, 0.0);
  mf.score(b, &lc, nullptr, nullptr);
  md.score(b, &lc, nullptr, nullptr);
  GradCheckResult r;
  double num2 = 0, e32 = 0, e64 = 0, maxNum = 0, maxE = 0;
  for (size_t i = base; i < n; i += (size_t)std::max(stride, 1)) {
    const double w0 = md.w[i];
    const double h = 1e-5 * std::max(1.0, std::fabs(w0));
    md.w[i] = w0 + h;
    const double lp = md.score(b, &lc, nullptr, nullptr, false).loss;
    md.w[i] = w0 - h;
    const double lm = md.score(b, &lc, nullptr, nullptr, false).loss;
    md.w[i] = w0;
    const double gn = (lp - lm) / (2 * h);
    num2 += gn * gn;
    e32 += (mf.g[i - base] - gn) * (mf.g[i - base] - gn);
    e64 += (md.g[i - base] - gn) * (md.g[i - base] - gn);
    maxNum = std::max(maxNum, std::fabs(gn));
    maxE = std::max(maxE, std::fabs(md.g[i - base] - gn));
    r.checked++;
  }
  r.gradNorm = std::sqrt(num2);
  r.relErrF32 = std::sqrt(e32 / std::max(num2, 1e-300));
  r.relErrF64 = std::sqrt(e64 / std::max(num2, 1e-300));
  r.maxAbsErrF64 = maxE / std::max(maxNum, 1e-300);
  return r;
}

}  // namespace arclight

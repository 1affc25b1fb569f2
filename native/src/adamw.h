// AdamW with decoupled weight decay, global-norm gradient clipping and the
// warmup + cosine learning-rate schedule.
#pragma once
#include <cmath>
#include <cstddef>
#include <stdexcept>

namespace arclight {

struct OptimConfig {
  double lr = 1e-3;  // peak learning rate
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weightDecay = 0.0;  // applied to matrices only (not norms, biases)
  double maxGradNorm = 1.0;  // <= 0 disables clipping
  int warmupSteps = 0;
  int totalSteps = 0;  // 0: constant after warmup; else cosine to minLrRatio * lr at totalSteps
  double minLrRatio = 0.0;
};

// step is 0-based (the step about to be taken).
inline double lr_at(const OptimConfig& o, long step) {
  if (o.warmupSteps > 0 && step < o.warmupSteps) return o.lr * (double)(step + 1) / o.warmupSteps;
  if (o.totalSteps <= 0) return o.lr;
  const long decay = o.totalSteps - o.warmupSteps;
  if (decay <= 0) return o.lr * o.minLrRatio;
  double t = (double)(step - o.warmupSteps) / decay;
  if (t > 1) t = 1;
  const double minLr = o.lr * o.minLrRatio;
  return minLr + 0.5 * (o.lr - minLr) * (1 + std::cos(M_PI * t));
}

// The update about to be taken as optimizer step `step` (0-based): its learning rate and the factor
// global-norm clipping scales the gradients by. A non-finite loss or gradient norm throws here, before
// any weight or moment changes.
struct UpdatePlan {
  double lr = 0, gradScale = 1;
};
inline UpdatePlan plan_update(const OptimConfig& o, long step, double loss, double gradNorm) {
  if (!std::isfinite(gradNorm) || !std::isfinite(loss))
    throw std::runtime_error("non-finite loss or gradient; weights left unchanged");
  UpdatePlan u;
  u.lr = lr_at(o, step);
  u.gradScale = (o.maxGradNorm > 0 && gradNorm > o.maxGradNorm) ? o.maxGradNorm / gradNorm : 1.0;
  return u;
}

template <typename F>
double grad_norm_cpu(const F* g, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)g[i] * (double)g[i];
  return std::sqrt(s);
}

// t is the 1-based step for bias correction; grads are pre-scaled by `gradScale` (clipping).
template <typename F>
void adamw_update_cpu(F* params, const F* grads, F* m, F* v, size_t n, double lr, const OptimConfig& o, long t,
                      double gradScale, bool decay) {
  const double bc1 = 1 - std::pow(o.beta1, (double)t), bc2 = 1 - std::pow(o.beta2, (double)t);
  const double wd = decay ? o.weightDecay : 0.0;
  for (size_t i = 0; i < n; i++) {
    const double g = (double)grads[i] * gradScale;
    const double mi = o.beta1 * m[i] + (1 - o.beta1) * g;
    const double vi = o.beta2 * v[i] + (1 - o.beta2) * g * g;
    m[i] = (F)mi;
    v[i] = (F)vi;
    const double mhat = mi / bc1, vhat = vi / bc2;
    params[i] = (F)(params[i] - lr * (mhat / (std::sqrt(vhat) + o.eps) + wd * params[i]));
  }
}

}  // namespace arclight

// Full-model parity: the CPU backend (Model<float>, native/src/model.h) against the CUDA backend
// (CudaModel, native/cuda/cuda_model.h) from the same seeded weights, for tiny GPT-2 and Qwen2
// configs: teacher-forced logprobs and entropies, SFT and GRPO losses (every aggregation, KL to a
// reference, entropy bonus, clipping) with every parameter's gradient, three AdamW steps (losses,
// gradient norms, weights and moments), greedy generation through the device KV cache, the
// host snapshot (save/clone path), chunked batches and cancellation. fp32 tight, bf16 looser.
//
// Usage: test_model [--bench]. Output like test_kernels: "PASS|FAIL name ..." lines, then
// "RESULT: P passed, F failed on DEVICE"; "SKIP: no CUDA device (reason)" and exit 0 without one.
// --bench: training steps of the whole model on the device (tokens/s, TFLOP/s, MFU against the bf16
// GEMM peak measured in the same run) and KV-cached generation tokens/s, as "BENCH model ..." lines.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "../../src/model.h"
#include "../cuda_backend.h"
#include "../cuda_model.h"

using namespace arclight;
namespace cu = arclight::cuda;
using std::string;
using std::vector;

static int g_passed = 0, g_failed = 0;

// |got - want| <= tol + eps * |want| for every element (llm.c style); NaN fails.
template <typename A, typename B>
static bool check(const string& name, const vector<A>& got, const vector<B>& want, double tol, double eps) {
  if (got.size() != want.size()) {
    std::printf("FAIL %-52s size %zu != %zu\n", name.c_str(), got.size(), want.size());
    g_failed++;
    return false;
  }
  size_t bad = 0, first = 0;
  double maxAbs = 0;
  for (size_t i = 0; i < got.size(); i++) {
    const double r = (double)want[i], e = std::fabs((double)got[i] - r);
    if (!(e <= tol + eps * std::fabs(r)) && bad++ == 0) first = i;
    if (!(e <= maxAbs)) maxAbs = e;
  }
  const bool ok = bad == 0;
  std::printf("%s %-52s n=%-7zu max_abs=%.2e (tol %.1e + %.0e*|ref|)", ok ? "PASS" : "FAIL", name.c_str(), got.size(),
              maxAbs, tol, eps);
  if (!ok) std::printf(" %zu bad, first [%zu] got %.8g want %.8g", bad, first, (double)got[first], (double)want[first]);
  std::printf("\n");
  (ok ? g_passed : g_failed)++;
  return ok;
}
static bool check1(const string& name, double got, double want, double tol, double eps) {
  return check(name, vector<double>{got}, vector<double>{want}, tol, eps);
}
static bool check_true(const string& name, bool ok, const string& detail) {
  std::printf("%s %-52s %s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.c_str());
  (ok ? g_passed : g_failed)++;
  return ok;
}

// Norm-wise agreement, ||got - want|| / ||want|| <= maxRel: for bf16, where single elements near
// zero carry no information, and for Adam updates, whose near-zero gradients flip sign freely.
template <typename A, typename B>
static bool check_rel(const string& name, const vector<A>& got, const vector<B>& want, double maxRel) {
  double num = 0, den = 0;
  bool finite = got.size() == want.size();
  for (size_t i = 0; finite && i < got.size(); i++) {
    const double d = (double)got[i] - (double)want[i];
    finite = std::isfinite(d);
    num += d * d;
    den += (double)want[i] * want[i];
  }
  const double rel = std::sqrt(num / std::max(den, 1e-300));
  const bool ok = finite && rel <= maxRel;
  std::printf("%s %-52s n=%-7zu rel_l2=%.2e (max %.0e)%s\n", ok ? "PASS" : "FAIL", name.c_str(), got.size(), rel,
              maxRel, finite ? "" : " size mismatch or NaN");
  (ok ? g_passed : g_failed)++;
  return ok;
}

static double rms(const vector<float>& v, size_t off, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)v[off + i] * v[off + i];
  return n ? std::sqrt(s / n) : 0.0;
}

// Per-parameter gradient comparison: elementwise with a tolerance relative to that tensor's scale
// (fp32), or norm-wise (bf16, normRel > 0).
static void check_params(const string& tag, const Model<float>& layout, const vector<float>& got,
                         const vector<float>& want, double rel, double normRel) {
  for (const ParamInfo& p : layout.params) {
    const vector<float> g(got.begin() + p.offset, got.begin() + p.offset + p.size);
    const vector<float> w(want.begin() + p.offset, want.begin() + p.offset + p.size);
    if (normRel > 0) {
      check_rel(tag + "_" + p.name, g, w, normRel);
    } else {
      const double scale = rms(want, p.offset, p.size);
      check(tag + "_" + p.name, g, w, rel * scale + 1e-12, rel);
    }
  }
}

// Seeded sequences of uneven lengths: one without a response (skipped by the loss, counted in
// the token totals), masks with holes, per-sequence advantages of both signs.
static SeqBatch make_batch(const ModelConfig& c, uint64_t seed) {
  Rng rng(seed);
  SeqBatch b;
  const int P[] = {3, 1, 6, 2, 5, 4}, R[] = {5, 9, 0, 4, 7, 11};
  for (int s = 0; s < 6; s++) {
    b.promptLen.push_back(P[s]);
    b.respLen.push_back(R[s]);
    for (int i = 0; i < P[s] + R[s]; i++) b.tokens.push_back((int)(rng.next() % (uint64_t)c.vocab));
    b.advantages.push_back(rng.uniform() * 2 - 1);
  }
  b.finalize();
  for (size_t i = 0; i < b.respTokens(); i++) b.mask.push_back(i % 7 == 3 ? 0.0 : 1.0);
  return b;
}

// Larger-than-init weights (fp32 test) so that every path carries a gradient well above rounding
// noise; biases get small random values so that their paths matter too.
static Model<float> make_model(const ModelConfig& c, uint64_t seed, float scale) {
  Model<float> m(c);
  m.init(seed);
  Rng rng(seed + 5);
  for (auto& x : m.w) x = x * scale + (x == 0.0f ? (float)(0.05 * rng.normal()) : 0.0f);
  return m;
}

static void run_config(const string& name, const ModelConfig& cfg, cu::MathMode mode) {
  const bool bf = mode == cu::MathMode::BF16;
  const string tag = name + (bf ? "_bf16" : "_fp32");
  // fp32: both sides are fp32 with different summation orders, elementwise checks. bf16: GEMM
  // operands keep 8 significant bits, so GPT-2-scale weights and norm-wise checks, with bounds
  // about 5x what the host emulation of the bf16 launchers (test_model_host) measures.
  const double lpTol = bf ? 1e-2 : 2e-4, gradRel = 2e-3, gradNormRel = bf ? 3e-2 : 0, lossRel = bf ? 1e-2 : 1e-4;
  Model<float> cpu = make_model(cfg, 11, bf ? 1.0f : 4.0f);
  cu::CudaModel gpu(cpu, mode);
  SeqBatch b = make_batch(cfg, 23);

  // 1. teacher-forced logprobs and entropies
  vector<double> lpC, entC, lpG, entG;
  cpu.score(b, nullptr, &lpC, &entC);
  gpu.score(b, &lpG, &entG);
  check(tag + "_logprobs", lpG, lpC, lpTol, 0);
  check(tag + "_entropy", entG, entC, lpTol, 0);
  // the same through one-sequence chunks (padding and gathering paths)
  gpu.setChunkRows(1);
  vector<double> lpG1, entG1;
  gpu.score(b, &lpG1, &entG1);
  gpu.setChunkRows(0);
  check(tag + "_logprobs_chunked", lpG1, lpC, lpTol, 0);

  // 2. losses and every gradient: SFT, then GRPO with old/ref logprobs, KL and entropy terms
  Rng rng(99);
  SeqBatch g = b;
  // fp32: ratios off 1, some clipped. bf16 leaves the old policy out (ratio 1): its logprob error
  // would move tokens across the clip boundary, where the gradient jumps.
  if (!bf)
    for (double lp : lpC) g.oldLogprobs.push_back(lp + 0.3 * (rng.uniform() - 0.5));
  for (double lp : lpC) g.refLogprobs.push_back(lp + 0.2 * (rng.uniform() - 0.5));
  struct LossCase {
    const char* name;
    LossConfig lc;
    const SeqBatch* batch;
  };
  LossConfig sft;
  sft.kind = LossKind::SFT;
  LossConfig grpo;
  grpo.klBeta = 0.1;
  grpo.entropyCoef = 0.01;
  grpo.epsLow = 0.1;
  grpo.epsHigh = 0.12;
  LossConfig seqMean = grpo;
  seqMean.agg = Aggregation::SeqMeanTokenMean;
  LossConfig sumNorm = grpo;
  sumNorm.agg = Aggregation::SeqMeanTokenSumNorm;
  sumNorm.normLength = 16;
  const LossCase cases[] = {
      {"sft", sft, &b}, {"grpo", grpo, &g}, {"grpo_seqmean", seqMean, &g}, {"grpo_sumnorm", sumNorm, &g}};
  for (const LossCase& lc : cases) {
    const string t = tag + "_" + lc.name;
    cpu.g.assign(cpu.numParams(), 0.0f);
    const StepStats sc = cpu.score(*lc.batch, &lc.lc, nullptr, nullptr);
    vector<float> gg;
    const StepStats sg = gpu.lossAndGradients(*lc.batch, lc.lc, &gg);
    check1(t + "_loss", sg.loss, sc.loss, 1e-6, lossRel);
    if (lc.lc.kind == LossKind::GRPO) {
      check1(t + "_kl", sg.kl, sc.kl, bf ? 2e-3 : 1e-5, bf ? 1e-1 : 1e-3);
      check1(t + "_entropy", sg.entropy, sc.entropy, 1e-5, lossRel);
      check1(t + "_clipfrac", sg.clipFrac, sc.clipFrac, 1e-9, 0);
    }
    check1(t + "_tokens", (double)sg.totalTokens + 1e3 * sg.responseTokens,
           (double)sc.totalTokens + 1e3 * sc.responseTokens, 0, 0);
    check_params(t + "_grad", cpu, gg, cpu.g, gradRel, gradNormRel);
  }

  // 3. three AdamW steps (warmup, cosine, decay, clipping) from the same start
  OptimConfig oc;
  oc.lr = 2e-3;
  oc.weightDecay = 0.1;
  oc.maxGradNorm = 0.5;
  oc.warmupSteps = 1;
  oc.totalSteps = 4;
  oc.minLrRatio = 0.1;
  Model<float> cpuT = cpu;
  cpuT.g.clear();
  cu::CudaModel gpuT(cpuT, mode);
  const vector<float> w0 = cpuT.w;
  for (int s = 0; s < 3; s++) {
    const StepStats a = cpuT.train_step(g, grpo, oc);
    const StepStats c = gpuT.trainStep(g, grpo, oc);
    check1(tag + "_train_loss_step" + std::to_string(s + 1), c.loss, a.loss, 1e-6, bf ? 5e-2 : 1e-3);
    check1(tag + "_train_gradnorm_step" + std::to_string(s + 1), c.gradNorm, a.gradNorm, 1e-6, bf ? 1e-1 : 2e-3);
    check1(tag + "_train_lr_step" + std::to_string(s + 1), c.lr, a.lr, 0, 1e-12);
  }
  const Model<float>& h = gpuT.host();
  check1(tag + "_train_step_counter", (double)h.step, (double)cpuT.step, 0, 0);
  // Updates are about lr per element (Adam normalises): compare them against a fraction of lr.
  vector<float> dC(w0.size()), dG(w0.size());
  for (size_t i = 0; i < w0.size(); i++) {
    dC[i] = cpuT.w[i] - w0[i];
    dG[i] = h.w[i] - w0[i];
  }
  // Norm-wise: an element whose gradient is ~0 on both sides may step +lr on one and -lr on the other.
  check_rel(tag + "_train_weight_updates", dG, dC, bf ? 0.2 : 2e-2);
  check_rel(tag + "_train_adam_m", h.m, cpuT.m, bf ? 0.1 : 5e-3);
  check_rel(tag + "_train_adam_v", h.v, cpuT.v, bf ? 0.1 : 5e-3);

  // 4. host snapshot round trip: a model built from it (what load and clone do) scores the same
  cu::CudaModel again(h, mode);
  vector<double> lpA, lpB;
  gpuT.score(b, &lpA, nullptr);
  again.score(b, &lpB, nullptr);
  check(tag + "_snapshot_reupload_logprobs", lpB, lpA, 0, 0);
  auto cl = gpuT.clone();
  vector<double> lpCl;
  cl->score(b, &lpCl, nullptr);
  check(tag + "_clone_logprobs", lpCl, lpA, 0, 0);

  // 5. generation: greedy through the device KV cache against the CPU, and against the device's
  // own no-cache reference path; a stop token and a context limit on the way
  GenRequest r;
  r.prompts = {{1, 2, 3}, {5}, {7, 8, 9, 10, 11, 12, 13}};
  r.n = 2;
  r.sc.temperature = 0;
  r.maxTokens = 20;  // the 7-token prompt meets ctx 24 first
  r.stop = {(int)(cfg.vocab - 1)};
  const GenResult gc = cpu.generate(r);
  const GenResult gd = gpu.generate(r);
  GenRequest rn = r;
  rn.useCache = false;
  const GenResult gdn = gpu.generate(rn);
  size_t same = 0, sameRef = 0, total = 0;
  vector<double> lc, lg;
  for (size_t s = 0; s < gc.tokens.size(); s++) {
    total++;
    same += gd.tokens[s] == gc.tokens[s] && gd.finish[s] == gc.finish[s];
    sameRef += gd.tokens[s] == gdn.tokens[s];
    if (gd.tokens[s] == gc.tokens[s]) {
      lc.insert(lc.end(), gc.logprobs[s].begin(), gc.logprobs[s].end());
      lg.insert(lg.end(), gd.logprobs[s].begin(), gd.logprobs[s].end());
    }
  }
  if (!bf)
    check_true(tag + "_greedy_tokens_vs_cpu", same == total,
               std::to_string(same) + "/" + std::to_string(total) + " samples identical");
  check_true(tag + "_greedy_cache_vs_nocache", sameRef == total,
             std::to_string(sameRef) + "/" + std::to_string(total) + " samples identical");
  check(tag + "_greedy_logprobs_vs_cpu", lg, lc, lpTol, 0);
  // sampled tokens' logprobs from the cached decoder equal teacher forcing on the device
  GenRequest rs = r;
  rs.sc.temperature = 1.0;
  rs.seed = 7;
  const GenResult gs = gpu.generate(rs);
  SeqBatch tf;
  for (size_t s = 0; s < gs.tokens.size(); s++) {
    const auto& pr = rs.prompts[s / rs.n];
    tf.tokens.insert(tf.tokens.end(), pr.begin(), pr.end());
    tf.tokens.insert(tf.tokens.end(), gs.tokens[s].begin(), gs.tokens[s].end());
    tf.promptLen.push_back((int)pr.size());
    tf.respLen.push_back((int)gs.tokens[s].size());
  }
  tf.finalize();
  vector<double> tfLp, sLp;
  gpu.score(tf, &tfLp, nullptr);
  for (auto& v : gs.logprobs) sLp.insert(sLp.end(), v.begin(), v.end());
  check(tag + "_sampled_logprobs_vs_teacher_forcing", sLp, tfLp, bf ? 5e-2 : 1e-4, 0);

  // 6. cancellation between layers
  std::atomic<bool> stop{true};
  gpu.setCancelFlag(&stop);
  bool cancelled = false;
  try {
    gpu.score(b, &lpG, nullptr);
  } catch (const Cancelled&) { cancelled = true; }
  gpu.setCancelFlag(nullptr);
  check_true(tag + "_cancel", cancelled, cancelled ? "score threw Cancelled" : "score ran to the end");

  // 7. refusals: both backends make the same checks (seq_batch.h, generation.h) and refuse before any
  // work, so a refused train step leaves the step count and the weights as they were
  auto refusal = [](auto&& call) -> string {
    try {
      call();
    } catch (const std::exception& e) { return e.what(); }
    return "";
  };
  auto same_refusal = [&](const string& what, const string& c, const string& d) {
    check_true(tag + "_refuses_" + what, !c.empty() && c == d, "cpu \"" + c + "\", device \"" + d + "\"");
  };
  SeqBatch badTok = b;  // an id outside the vocabulary in the sequence without a response
  badTok.tokens[badTok.tokOff[2] + 1] = cfg.vocab;
  same_refusal("token_outside_vocab", refusal([&] { cpu.score(badTok, nullptr, &lpC, nullptr); }),
               refusal([&] { gpu.score(badTok, &lpG, nullptr); }));
  SeqBatch tooLong = b;
  tooLong.promptLen[5] += cfg.ctx;
  tooLong.tokens.insert(tooLong.tokens.end() - tooLong.respLen[5], (size_t)cfg.ctx, 1);
  tooLong.finalize();
  const long stepBefore = gpu.step();
  const vector<float> wBefore = gpu.host().w;
  same_refusal("sequence_beyond_ctx", refusal([&] { cpu.score(tooLong, nullptr, &lpC, nullptr); }),
               refusal([&] { gpu.trainStep(tooLong, LossConfig{}, OptimConfig{}); }));
  check_true(tag + "_refused_step_changes_nothing", gpu.step() == stepBefore && gpu.host().w == wBefore,
             "step " + std::to_string(gpu.step()) + " (was " + std::to_string(stepBefore) + ")");
  for (int k = 0; k < 3; k++) {
    GenRequest bad = r;
    bad.prompts[1] = k == 0 ? vector<int>{} : k == 1 ? vector<int>{2, cfg.vocab} : vector<int>((size_t)cfg.ctx, 1);
    same_refusal(k == 0   ? "empty_prompt"
                 : k == 1 ? "prompt_token_outside_vocab"
                          : "prompt_filling_ctx",
                 refusal([&] { cpu.generate(bad); }), refusal([&] { gpu.generate(bad); }));
  }
}

static double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Tight-loop GEMM throughput of our kernel (TFLOP/s), best of 3: the MFU denominator.
static double gemm_peak(cu::MathMode mode) {
  const int n = 4096;
  const size_t bytes = (size_t)n * n * sizeof(float);
  void* x = cu::device_alloc(bytes);
  void* w = cu::device_alloc(bytes);
  void* y = cu::device_alloc(bytes);
  cu::device_zero(x, bytes);
  cu::device_zero(w, bytes);
  double best = 0;
  for (int rep = 0; rep < 4; rep++) {  // the first round warms up
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < 10; r++)
      cu::matmul_forward((float*)y, (const float*)x, w, cu::DType::F32, nullptr, n, n, n, mode);
    cu::synchronize();
    if (rep > 0) best = std::max(best, 2.0 * n * n * n * 10 / seconds_since(t0) / 1e12);
  }
  cu::device_free(x);
  cu::device_free(w);
  cu::device_free(y);
  return best;
}

static int bench() {
  std::printf("device: %s\n", cu::device_description());
  const double bf16Peak = gemm_peak(cu::MathMode::BF16), fp32Peak = gemm_peak(cu::MathMode::FP32);
  std::printf("BENCH gemm_peak 4096^3 fp32 %.1f TFLOP/s  bf16 %.1f TFLOP/s\n", fp32Peak, bf16Peak);
  struct Shape {
    const char* what;
    int layers, C, heads, V, S, P, R;
    cu::MathMode mode;
  };
  const Shape shapes[] = {{"gpt2 L4 C256 fp32", 4, 256, 4, 260, 8, 32, 96, cu::MathMode::FP32},
                          {"gpt2 L4 C256 bf16", 4, 256, 4, 260, 8, 32, 96, cu::MathMode::BF16},
                          {"gpt2-small L12 C768 fp32", 12, 768, 12, 50257, 8, 32, 480, cu::MathMode::FP32},
                          {"gpt2-small L12 C768 bf16", 12, 768, 12, 50257, 8, 32, 480, cu::MathMode::BF16}};
  for (const Shape& sh : shapes) {
    ModelConfig c;
    c.family = "gpt2";
    c.layers = sh.layers;
    c.dModel = sh.C;
    c.heads = sh.heads;
    c.kvHeads = sh.heads;
    c.vocab = sh.V;
    c.ctx = 1024;
    Model<float> host(c);
    host.init(1);
    cu::CudaModel m(host, sh.mode);
    SeqBatch b;
    for (int s = 0; s < sh.S; s++) {
      for (int i = 0; i < sh.P + sh.R; i++) b.tokens.push_back((s * 31 + i * 7) % sh.V);
      b.promptLen.push_back(sh.P);
      b.respLen.push_back(sh.R);
    }
    b.finalize();
    LossConfig sft;
    sft.kind = LossKind::SFT;
    OptimConfig oc;
    oc.lr = 1e-4;
    m.trainStep(b, sft, oc);  // warm-up: allocations
    vector<double> ts;
    for (int i = 0; i < 5; i++) ts.push_back(m.trainStep(b, sft, oc).seconds);
    std::sort(ts.begin(), ts.end());
    const double step = ts[ts.size() / 2];
    const double T = sh.P + sh.R, C = sh.C, L = sh.layers;
    // 6 FLOPs per matmul weight per token, causal attention, the head on the scored rows only
    const double fwd = sh.S * (2 * L * 12 * C * C * T + L * 4 * C * (T * (T + 1) / 2) + 2.0 * sh.V * C * sh.R);
    const double tflops = 3 * fwd / step / 1e12;
    GenRequest g;
    for (int s = 0; s < 4; s++)
      g.prompts.push_back(vector<int>(b.tokens.begin() + b.tokOff[s], b.tokens.begin() + b.tokOff[s] + sh.P));
    g.n = 4;
    g.maxTokens = 64;
    g.seed = 1;
    const auto t0 = std::chrono::steady_clock::now();
    const GenResult gr = m.generate(g);
    const double genS = seconds_since(t0);
    std::printf(
        "BENCH model %-26s %dx%d tok  step %.1f ms  %.0f tokens/s  %.2f TFLOP/s  MFU %.1f%% of bf16 peak  generate "
        "%.0f tokens/s\n",
        sh.what, sh.S, sh.P + sh.R, step * 1e3, sh.S * T / step, tflops, 100 * tflops / bf16Peak, gr.generated / genS);
  }
  return 0;
}

int main(int argc, char** argv) {
  if (arclight_cuda_device_count() == 0) {
    std::printf("SKIP: no CUDA device (%s)\n", cu::unavailable_reason());
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[1], "--bench") == 0) {
    try {
      return bench();
    } catch (const std::exception& e) {
      std::printf("ERROR: %s\n", e.what());
      return 2;
    }
  }
  try {
    std::printf("device: %s\n", cu::device_description());
    ModelConfig gpt;
    gpt.family = "gpt2";
    gpt.layers = 2;
    gpt.dModel = 64;
    gpt.heads = 4;
    gpt.kvHeads = 4;
    gpt.vocab = 97;
    gpt.ctx = 24;
    ModelConfig qwen;
    qwen.family = "qwen2";
    qwen.layers = 2;
    qwen.dModel = 64;
    qwen.heads = 4;
    qwen.kvHeads = 2;
    qwen.vocab = 101;
    qwen.ctx = 24;
    qwen.ffn = 96;
    qwen.normEps = 1e-6;
    qwen.tieEmbeddings = false;
    ModelConfig mqa = qwen;  // multi-query, tied head, head_dim 32
    mqa.heads = 2;
    mqa.kvHeads = 1;
    mqa.tieEmbeddings = true;
    mqa.layers = 3;
    mqa.vocab = 67;
    for (cu::MathMode mode : {cu::MathMode::FP32, cu::MathMode::BF16}) {
      run_config("gpt2", gpt, mode);
      run_config("qwen2", qwen, mode);
      run_config("qwen2_mqa_tied", mqa, mode);
    }
  } catch (const std::exception& e) {
    std::printf("ERROR: %s\n", e.what());
    std::printf("RESULT: %d passed, %d failed, aborted by an exception\n", g_passed, g_failed + 1);
    return 2;
  }
  std::printf("RESULT: %d passed, %d failed on %s\n", g_passed, g_failed, cu::device_description());
  return g_failed == 0 ? 0 : 1;
}

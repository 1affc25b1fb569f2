// CudaModel: Model<float>'s forward, backward, losses, AdamW and sampler on the device through the
// launchers of cuda_backend.h. Compiled by the host C++ compiler into libarclight_cuda.a (build.sh);
// each step below names the Model<float> code it mirrors.
#include "cuda_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace arclight {
namespace cuda {

namespace {

// A growable device buffer: ensure() reallocates (contents lost) only when asked for more.
class Buf {
 public:
  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() { device_free(p_); }
  void* ensure(size_t bytes) {
    if (bytes > bytes_ || !p_) {
      device_free(p_);
      p_ = nullptr;
      bytes_ = 0;
      p_ = device_alloc(bytes);
      bytes_ = bytes;
    }
    return p_;
  }
  float* f(size_t n) { return static_cast<float*>(ensure(n * sizeof(float))); }
  int* i(size_t n) { return static_cast<int*>(ensure(n * sizeof(int))); }
  float* f() const { return static_cast<float*>(p_); }
  int* i() const { return static_cast<int*>(p_); }
  uint16_t* h() const { return static_cast<uint16_t*>(p_); }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// Saved activations of one layer (Model::LayerActs), rows i = b * tq + t.
struct LayerActs {
  Buf xin, ln1, m1, r1, qkv, atty, lse, x2, ln2, m2, r2, fch, fcg;
};

}  // namespace

struct CudaModel::Impl {
  ModelConfig cfg;
  MathMode mode;
  Model<float> hostModel;  // layout (params) and the snapshot host() returns
  size_t total = 0;
  long step = 0;
  bool optimReady = false;  // m and v hold AdamW moments
  std::atomic<bool>* cancel = nullptr;
  size_t chunkRows = 0;  // 0: default

  Buf w, g, m, v, wbf;  // fp32 master weights, gradients, moments; bf16 shadow (BF16 mode)
  using LayerOff = Model<float>::LayerOff;
  size_t wte = kAbsent, wpe = kAbsent, lnfw = kAbsent, lnfb = kAbsent;
  std::vector<LayerOff> L;  // the host model's layout: offsets into w, g, m and v alike

  // work buffers
  std::unique_ptr<LayerActs[]> acts;  // one per layer (Buf is not movable)
  Buf xout, lnf, mf, rf, tokens, positions, lnfc, logits, targets, lp, ent, dlp, dent;
  Buf dx, dln, dfcg, dfch, datty, dqkv, scratch, dlnf, dlnfc, normsq;
  Buf kcache, vcache;  // [layers][slots][cap][kvDim]
  int cacheSlots = 0, cacheCap = 0;

  Impl(const Model<float>& h, MathMode md) : cfg(h.cfg), mode(md), hostModel(h) {
    hostModel.cancelFlag = nullptr;
    // Checked here, so that make_backend falls back to the CPU instead of every call failing later.
    if (cfg.ropeScaled()) throw std::invalid_argument("the CUDA RoPE kernels have no Llama 3 rope_scaling yet");
    if (cfg.lora.rank > 0) throw std::invalid_argument("LoRA adapters run on the CPU backend only so far");
    if (cfg.headDim() > 256)
      throw std::invalid_argument("the CUDA attention kernel supports head_dim <= 256, this model has " +
                                  std::to_string(cfg.headDim()));
    total = hostModel.numParams();
    step = h.step;
    const Model<float>::Offsets& off = hostModel.offsets();
    wte = off.wte;
    wpe = off.wpe;
    lnfw = off.lnfw;
    lnfb = off.lnfb;
    L = off.L;
    acts = std::make_unique<LayerActs[]>(cfg.layers);
    const size_t bytes = total * sizeof(float);
    copy_to_device(w.ensure(bytes), h.w.data(), bytes);
    g.ensure(bytes);
    m.ensure(bytes);
    v.ensure(bytes);
    if (h.m.size() == total && h.v.size() == total) {
      copy_to_device(m.f(), h.m.data(), bytes);
      copy_to_device(v.f(), h.v.data(), bytes);
      optimReady = true;
    }
    if (mode == MathMode::BF16) {
      wbf.ensure(total * sizeof(uint16_t));
      convert_to_bf16(wbf.h(), w.f(), (long long)total);
    }
    synchronize();
  }

  void check_cancel() const { arclight::check_cancel(cancel); }

  float* W(size_t o) const { return o == kAbsent ? nullptr : w.f() + o; }
  float* G(size_t o) const { return o == kAbsent ? nullptr : g.f() + o; }
  // GEMM operand: the bf16 shadow in BF16 mode (rounded once per update, not per call).
  const void* Wm(size_t o) const {
    return mode == MathMode::BF16 ? (const void*)(wbf.h() + o) : (const void*)(w.f() + o);
  }
  DType Wt() const { return mode == MathMode::BF16 ? DType::BF16 : DType::F32; }
  size_t head() const { return hostModel.head(); }

  void norm_fwd(float* out, float* mean, float* rstd, const float* inp, size_t wo, size_t bo, int N) {
    if (cfg.qwen())
      rmsnorm_forward(out, rstd, inp, W(wo), N, cfg.dModel, (float)cfg.normEps);
    else
      layernorm_forward(out, mean, rstd, inp, W(wo), W(bo), N, cfg.dModel, (float)cfg.normEps);
  }
  void norm_bwd(float* dinp, size_t wo, size_t bo, const float* dout, const float* inp, const float* mean,
                const float* rstd, int N) {
    if (cfg.qwen())
      rmsnorm_backward(dinp, G(wo), dout, inp, W(wo), rstd, N, cfg.dModel);
    else
      layernorm_backward(dinp, G(wo), G(bo), dout, inp, W(wo), mean, rstd, N, cfg.dModel);
  }

  // q/k/v strides inside the fused qkv rows [B, tq, QKV] (Q heads, then K, then V).
  AttentionDims qkv_dims(int B, int tq) const {
    const int QKV = cfg.qkvDim();
    AttentionDims d{};
    d.batch = B;
    d.tq = tq;
    d.tk = tq;
    d.heads = cfg.heads;
    d.kv_heads = cfg.kvHeads;
    d.head_dim = cfg.headDim();
    d.q_batch = d.k_batch = d.v_batch = (long long)tq * QKV;
    d.q_row = d.k_row = d.v_row = QKV;
    return d;
  }

  // Model::forward for B sequences of tq new tokens each (tokens and, when cached, positions
  // already uploaded). Without a cache (training, scoring): positions t = 0..tq-1 and attention over
  // the rows themselves. With the cache: the rows sit at positions start..start+tq-1 of cache slots
  // 0..B-1, their K/V are written there and attention reads 0..start+tq-1. Ends with the final
  // norm of every row in lnf; the head is the caller's (only some rows need logits).
  void forward(int B, int tq, int start, bool cached) {
    const int C = cfg.dModel, H = cfg.heads, D = cfg.headDim(), QKV = cfg.qkvDim(), KVD = cfg.kvDim(), HD = H * D;
    const int Fd = cfg.ffnDim(), Fh = cfg.qwen() ? 2 * Fd : Fd;
    const int N = B * tq;
    const size_t NC = (size_t)N * C;
    const int* pos = cached ? positions.i() : nullptr;
    for (int l = 0; l < cfg.layers; l++) {
      LayerActs& a = acts[l];
      a.xin.f(NC);
      a.ln1.f(NC);
      a.m1.f(N);
      a.r1.f(N);
      a.qkv.f((size_t)N * QKV);
      a.atty.f((size_t)N * HD);
      a.lse.f((size_t)N * H);
      a.x2.f(NC);
      a.ln2.f(NC);
      a.m2.f(N);
      a.r2.f(N);
      a.fch.f((size_t)N * Fh);
      a.fcg.f((size_t)N * Fd);
    }
    xout.f(NC);
    lnf.f(NC);
    mf.f(N);
    rf.f(N);
    encoder_forward(acts[0].xin.f(), tokens.i(), pos, W(wte), cfg.qwen() ? nullptr : W(wpe), N, tq, C);
    for (int l = 0; l < cfg.layers; l++) {
      check_cancel();
      const LayerOff& o = L[l];
      LayerActs& a = acts[l];
      float* out = l + 1 < cfg.layers ? acts[l + 1].xin.f() : xout.f();
      norm_fwd(a.ln1.f(), a.m1.f(), a.r1.f(), a.xin.f(), o.ln1w, o.ln1b, N);
      matmul_forward(a.qkv.f(), a.ln1.f(), Wm(o.qkvw), Wt(), W(o.qkvb), N, C, QKV, mode);
      if (cfg.qwen()) {
        rope_forward(a.qkv.f(), pos, N, tq, H, D, QKV, (float)cfg.ropeTheta);
        rope_forward(a.qkv.f() + HD, pos, N, tq, cfg.kvHeads, D, QKV, (float)cfg.ropeTheta);
      }
      AttentionDims dims = qkv_dims(B, tq);
      const float* q = a.qkv.f();
      const float* k = a.qkv.f() + HD;
      const float* vv = a.qkv.f() + HD + KVD;
      if (cached) {
        // Model::forward copies each row's (roped) K and V into its cache at its position.
        const size_t slot = (size_t)cacheCap * KVD;
        float* kc = kcache.f() + (size_t)l * cacheSlots * slot;
        float* vc = vcache.f() + (size_t)l * cacheSlots * slot;
        const size_t fl = sizeof(float);
        if (tq == 1) {
          copy_device_rows(kc + (size_t)start * KVD, slot * fl, a.qkv.f() + HD, QKV * fl, KVD * fl, B);
          copy_device_rows(vc + (size_t)start * KVD, slot * fl, a.qkv.f() + HD + KVD, QKV * fl, KVD * fl, B);
        } else {
          for (int b = 0; b < B; b++) {
            copy_device_rows(kc + b * slot + (size_t)start * KVD, KVD * fl, a.qkv.f() + (size_t)b * tq * QKV + HD,
                             QKV * fl, KVD * fl, tq);
            copy_device_rows(vc + b * slot + (size_t)start * KVD, KVD * fl, a.qkv.f() + (size_t)b * tq * QKV + HD + KVD,
                             QKV * fl, KVD * fl, tq);
          }
        }
        dims.tk = start + tq;
        dims.k_batch = dims.v_batch = (long long)slot;
        dims.k_row = dims.v_row = KVD;
        k = kc;
        vv = vc;
      }
      attention_forward(a.atty.f(), a.lse.f(), q, k, vv, dims);
      matmul_forward(a.x2.f(), a.atty.f(), Wm(o.projw), Wt(), W(o.projb), N, HD, C, mode);
      add_inplace(a.x2.f(), a.xin.f(), (long long)NC);
      norm_fwd(a.ln2.f(), a.m2.f(), a.r2.f(), a.x2.f(), o.ln2w, o.ln2b, N);
      matmul_forward(a.fch.f(), a.ln2.f(), Wm(o.fcw), Wt(), W(o.fcb), N, C, Fh, mode);
      if (cfg.qwen())
        swiglu_forward(a.fcg.f(), a.fch.f(), a.fch.f() + Fd, N, Fd, 2 * Fd);
      else
        gelu_forward(a.fcg.f(), a.fch.f(), (long long)N * Fd);
      matmul_forward(out, a.fcg.f(), Wm(o.mlpw), Wt(), W(o.mlpb), N, Fd, C, mode);
      add_inplace(out, a.x2.f(), (long long)NC);
    }
    norm_fwd(lnf.f(), mf.f(), rf.f(), xout.f(), lnfw, lnfb, N);
  }

  // Model::backward after forward(B, tq, 0, false), from dlnf [N, C] (already filled) down to the
  // embeddings; accumulates into g. Single dx buffer: the norm backward adds into it, which is the
  // CPU's dx2 = dx + norm2' and dx = dx2 + norm1'.
  void backward(int B, int tq) {
    const int C = cfg.dModel, H = cfg.heads, D = cfg.headDim(), QKV = cfg.qkvDim(), KVD = cfg.kvDim(), HD = H * D;
    const int Fd = cfg.ffnDim(), Fh = cfg.qwen() ? 2 * Fd : Fd;
    const int N = B * tq;
    const size_t NC = (size_t)N * C, fl = sizeof(float);
    float* dX = dx.f(NC);
    device_zero(dX, NC * fl);
    norm_bwd(dX, lnfw, lnfb, dlnf.f(), xout.f(), mf.f(), rf.f(), N);
    float* dLn = dln.f(NC);
    float* dFcg = dfcg.f((size_t)N * Fd);
    float* dFch = dfch.f((size_t)N * Fh);
    float* dAtty = datty.f((size_t)N * HD);
    float* dQkv = dqkv.f((size_t)N * QKV);
    float* sc = scratch.f((size_t)N * H);
    for (int l = cfg.layers - 1; l >= 0; l--) {
      check_cancel();
      const LayerOff& o = L[l];
      LayerActs& a = acts[l];
      // MLP block: out = x2 + mlp(norm2(x2))
      device_zero(dFcg, (size_t)N * Fd * fl);
      matmul_backward(dFcg, G(o.mlpw), G(o.mlpb), dX, a.fcg.f(), Wm(o.mlpw), Wt(), N, Fd, C, mode);
      device_zero(dFch, (size_t)N * Fh * fl);
      if (cfg.qwen())
        swiglu_backward(dFch, dFch + Fd, dFcg, a.fch.f(), a.fch.f() + Fd, N, Fd, 2 * Fd);
      else
        gelu_backward(dFch, a.fch.f(), dFcg, (long long)N * Fd);
      device_zero(dLn, NC * fl);
      matmul_backward(dLn, G(o.fcw), G(o.fcb), dFch, a.ln2.f(), Wm(o.fcw), Wt(), N, C, Fh, mode);
      norm_bwd(dX, o.ln2w, o.ln2b, dLn, a.x2.f(), a.m2.f(), a.r2.f(), N);
      // attention block: x2 = xin + proj(attn(norm1(xin)))
      device_zero(dAtty, (size_t)N * HD * fl);
      matmul_backward(dAtty, G(o.projw), G(o.projb), dX, a.atty.f(), Wm(o.projw), Wt(), N, HD, C, mode);
      device_zero(dQkv, (size_t)N * QKV * fl);
      const AttentionDims dims = qkv_dims(B, tq);
      attention_backward(dQkv, dQkv + HD, dQkv + HD + KVD, sc, dAtty, a.atty.f(), a.lse.f(), a.qkv.f(), a.qkv.f() + HD,
                         a.qkv.f() + HD + KVD, dims);
      if (cfg.qwen()) {
        rope_backward(dQkv, nullptr, N, tq, H, D, QKV, (float)cfg.ropeTheta);
        rope_backward(dQkv + HD, nullptr, N, tq, cfg.kvHeads, D, QKV, (float)cfg.ropeTheta);
      }
      device_zero(dLn, NC * fl);
      matmul_backward(dLn, G(o.qkvw), G(o.qkvb), dQkv, a.ln1.f(), Wm(o.qkvw), Wt(), N, C, QKV, mode);
      norm_bwd(dX, o.ln1w, o.ln1b, dLn, a.xin.f(), a.m1.f(), a.r1.f(), N);
    }
    encoder_backward(G(wte), cfg.qwen() ? nullptr : G(wpe), dX, tokens.i(), nullptr, N, tq, C);
  }

  // Model::score: every response token's logprob and entropy; with `loss`, the loss and (when
  // doBackward) its gradient accumulated into g. Sequences run in padded chunks (see the header).
  StepStats run(const SeqBatch& b, const LossConfig* loss, std::vector<double>* lpOut, std::vector<double>* entOut,
                bool doBackward) {
    const int V = cfg.vocab, C = cfg.dModel;
    const size_t fl = sizeof(float);
    b.check_for(cfg);  // before anything is launched
    BatchLoss bl(b, loss, lpOut, entOut);
    std::vector<size_t> work;
    for (size_t s = 0; s < b.numSeqs(); s++)
      if (b.respLen[s] > 0) work.push_back(s);
    // Rows per chunk: bounded so that activations and the logits of one chunk stay modest.
    const size_t maxRows =
        chunkRows > 0 ? chunkRows
                      : std::max<size_t>(1, std::min<size_t>(8192, ((size_t)1 << 28) / (size_t)std::max(V, 4 * C)));
    std::vector<int> htok, htgt;
    std::vector<float> hlp, hent, hdlp, hdent;
    for (size_t w0 = 0; w0 < work.size();) {
      check_cancel();
      size_t w1 = w0;
      int T = 0;
      while (w1 < work.size()) {
        const size_t s = work[w1];
        const int n = b.promptLen[s] + b.respLen[s];
        const int nt = std::max(T, n);
        if (w1 > w0 && (w1 - w0 + 1) * (size_t)nt > maxRows) break;
        T = nt;
        w1++;
      }
      const int B = (int)(w1 - w0), N = B * T;
      htok.assign(N, 0);  // padding: token 0 (a valid id) after each sequence, never seen by its rows
      int R = 0;
      for (int k = 0; k < B; k++) {
        const size_t s = work[w0 + k];
        const int n = b.promptLen[s] + b.respLen[s];
        std::copy(b.tokens.begin() + b.tokOff[s], b.tokens.begin() + b.tokOff[s] + n, htok.begin() + (size_t)k * T);
        R += b.respLen[s];
      }
      copy_to_device(tokens.i(N), htok.data(), N * sizeof(int));
      const bool train = loss != nullptr && doBackward;
      forward(B, T, 0, false);
      // Rows P-1 .. P+Rn-2 of each sequence predict its response: gather them, then the head.
      float* lc = lnfc.f((size_t)R * C);
      htgt.assign(R, 0);
      int r = 0;
      for (int k = 0; k < B; k++) {
        const size_t s = work[w0 + k];
        const int P = b.promptLen[s], Rn = b.respLen[s];
        copy_device(lc + (size_t)r * C, lnf.f() + ((size_t)k * T + P - 1) * C, (size_t)Rn * C * fl);
        for (int t = 0; t < Rn; t++) htgt[r + t] = b.tokens[b.tokOff[s] + P + t];
        r += Rn;
      }
      float* z = logits.f((size_t)R * V);
      matmul_forward(z, lc, Wm(head()), Wt(), nullptr, R, C, V, mode);
      copy_to_device(targets.i(R), htgt.data(), R * sizeof(int));
      logprob_entropy_forward(lp.f(R), ent.f(R), z, targets.i(), R, V);
      hlp.resize(R);
      hent.resize(R);
      copy_to_host(hlp.data(), lp.f(), R * fl);
      copy_to_host(hent.data(), ent.f(), R * fl);
      // Per-token loss terms on the host: the CPU backend's loop (batch_loss.h), in the same order.
      hdlp.assign(R, 0.0f);
      hdent.assign(R, 0.0f);
      bool anyGrad = false;
      r = 0;
      for (int k = 0; k < B; k++) {
        const size_t s = work[w0 + k];
        for (int t = 0; t < b.respLen[s]; t++, r++) {
          const TokenGrad tg = bl.add(s, t, hlp[r], hent[r]);
          hdlp[r] = (float)tg.dLogp;
          hdent[r] = (float)tg.dEntropy;
          anyGrad = anyGrad || hdlp[r] != 0 || hdent[r] != 0;
        }
      }
      if (train && anyGrad) {
        copy_to_device(dlp.f(R), hdlp.data(), R * fl);
        copy_to_device(dent.f(R), hdent.data(), R * fl);
        logprob_entropy_backward(z, z, targets.i(), dlp.f(), dent.f(), R, V);  // dlogits in place
        float* dlc = dlnfc.f((size_t)R * C);
        device_zero(dlc, (size_t)R * C * fl);
        matmul_backward(dlc, G(head()), nullptr, z, lc, Wm(head()), Wt(), R, C, V, mode);
        float* dl = dlnf.f((size_t)N * C);
        device_zero(dl, (size_t)N * C * fl);
        r = 0;
        for (int k = 0; k < B; k++) {
          const size_t s = work[w0 + k];
          const int P = b.promptLen[s], Rn = b.respLen[s];
          copy_device(dl + ((size_t)k * T + P - 1) * C, dlc + (size_t)r * C, (size_t)Rn * C * fl);
          r += Rn;
        }
        backward(B, T);
      }
      w0 = w1;
    }
    synchronize();  // kernel errors surface here, inside this call
    return bl.stats();
  }

  void ensure_optim() {
    if (optimReady) return;
    device_zero(m.f(), total * sizeof(float));
    device_zero(v.f(), total * sizeof(float));
    optimReady = true;
  }

  // Model::train_step.
  StepStats train_step(const SeqBatch& b, const LossConfig& loss, const OptimConfig& opt) {
    const auto t0 = std::chrono::steady_clock::now();
    ensure_optim();
    device_zero(g.f(), total * sizeof(float));
    StepStats st = run(b, &loss, nullptr, nullptr, true);
    st.gradNorm = grad_norm();
    const UpdatePlan up = plan_update(opt, step, st.loss, st.gradNorm);
    st.lr = up.lr;
    step++;
    for (const ParamInfo& p : hostModel.params) {
      AdamWArgs a;
      a.lr = (float)st.lr;
      a.beta1 = (float)opt.beta1;
      a.beta2 = (float)opt.beta2;
      a.eps = (float)opt.eps;
      a.weight_decay = p.decay ? (float)opt.weightDecay : 0.0f;
      a.grad_scale = (float)up.gradScale;
      a.step = (int)std::min<long>(step, INT32_MAX);
      adamw_update(w.f() + p.offset, mode == MathMode::BF16 ? wbf.h() + p.offset : nullptr, g.f() + p.offset,
                   m.f() + p.offset, v.f() + p.offset, (long long)p.size, a);
    }
    synchronize();
    st.step = step;
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return st;
  }

  double grad_norm() {
    float* out = normsq.f(1);
    device_zero(out, sizeof(float));
    global_norm_squared(out, g.f(), (long long)total);
    float h = 0;
    copy_to_host(&h, out, sizeof(float));
    return std::sqrt((double)h);
  }

  // Logits of `rows` rows of lnf starting at row `first` (stride `every` rows) into host memory.
  void head_rows_to_host(std::vector<float>& dst, int first, int rows, int every) {
    const int C = cfg.dModel, V = cfg.vocab;
    float* lc = lnfc.f((size_t)rows * C);
    if (every == 1)
      copy_device(lc, lnf.f() + (size_t)first * C, (size_t)rows * C * sizeof(float));
    else
      copy_device_rows(lc, C * sizeof(float), lnf.f() + (size_t)first * C, (size_t)every * C * sizeof(float),
                       C * sizeof(float), rows);
    float* z = logits.f((size_t)rows * V);
    matmul_forward(z, lc, Wm(head()), Wt(), nullptr, rows, C, V, mode);
    dst.resize((size_t)rows * V);
    copy_to_host(dst.data(), z, dst.size() * sizeof(float));
  }

  void ensure_cache(int slots, int cap) {
    const size_t per = (size_t)cfg.layers * slots * cap * cfg.kvDim() * sizeof(float);
    kcache.ensure(per);
    vcache.ensure(per);
    cacheSlots = slots;
    cacheCap = cap;
  }

  // Model::generate: same seeds, same sampling code on the same (device-computed) logits. The n
  // samples of a prompt decode together: they share their length at every step (a sample that
  // stopped keeps a dummy row until the group ends, its output ignored).
  GenResult generate(const GenRequest& r) {
    const int V = cfg.vocab, KVD = cfg.kvDim();
    const size_t Pn = r.prompts.size(), n = (size_t)r.n, fl = sizeof(float);
    Decoding dec(r, cfg);  // checks every prompt before anything is launched
    std::vector<float> hl;
    std::vector<std::vector<float>> logitsRow(n, std::vector<float>(V));
    std::vector<int> htok, hpos;
    for (size_t p = 0; p < Pn && r.maxTokens > 0; p++) {
      const auto& pr = r.prompts[p];
      const int P = (int)pr.size();
      const int cap = std::min(cfg.ctx, P + r.maxTokens);
      std::vector<std::vector<int>> seqs(n, pr);
      if (r.useCache) {
        ensure_cache((int)n, cap);
        hpos.resize(P);
        for (int i = 0; i < P; i++) hpos[i] = i;
        copy_to_device(tokens.i(P), pr.data(), P * sizeof(int));
        copy_to_device(positions.i(P), hpos.data(), P * sizeof(int));
        check_cancel();
        forward(1, P, 0, true);  // prefill into slot 0, then copy its rows to the other samples
        const size_t slot = (size_t)cap * KVD;
        for (int l = 0; l < cfg.layers; l++)
          for (size_t k = 1; k < n; k++) {
            copy_device(kcache.f() + ((size_t)l * n + k) * slot, kcache.f() + (size_t)l * n * slot,
                        (size_t)P * KVD * fl);
            copy_device(vcache.f() + ((size_t)l * n + k) * slot, vcache.f() + (size_t)l * n * slot,
                        (size_t)P * KVD * fl);
          }
        head_rows_to_host(hl, P - 1, 1, 1);
        for (size_t k = 0; k < n; k++) std::copy(hl.begin(), hl.end(), logitsRow[k].begin());
      }
      std::vector<char> live(n, 1);
      size_t nLive = n;
      int len = P;  // shared by every sample of the group
      while (nLive > 0) {
        check_cancel();
        if (!r.useCache) {
          for (size_t k = 0; k < n; k++) {  // reference path: the whole sequence for every token
            if (!live[k]) continue;
            const int N = (int)seqs[k].size();
            copy_to_device(tokens.i(N), seqs[k].data(), N * sizeof(int));
            forward(1, N, 0, false);
            head_rows_to_host(hl, N - 1, 1, 1);
            std::copy(hl.begin(), hl.end(), logitsRow[k].begin());
          }
        }
        htok.assign(n, 0);
        for (size_t k = 0; k < n; k++) {
          if (!live[k]) continue;
          const bool more = dec.next(p * n + k, logitsRow[k].data(), &htok[k]);
          seqs[k].push_back(htok[k]);
          if (!more) {
            live[k] = 0;
            nLive--;
          }
        }
        len++;
        if (r.useCache && nLive > 0) {
          hpos.assign(n, len - 1);
          copy_to_device(tokens.i(n), htok.data(), n * sizeof(int));
          copy_to_device(positions.i(n), hpos.data(), n * sizeof(int));
          forward((int)n, 1, len - 1, true);
          head_rows_to_host(hl, 0, (int)n, 1);
          for (size_t k = 0; k < n; k++)
            if (live[k]) std::copy(hl.begin() + (size_t)k * V, hl.begin() + (size_t)(k + 1) * V, logitsRow[k].begin());
        }
      }
    }
    return dec.result();
  }

  const Model<float>& sync_host() {
    const size_t bytes = total * sizeof(float);
    copy_to_host(hostModel.w.data(), w.f(), bytes);
    if (optimReady) {
      hostModel.m.resize(total);
      hostModel.v.resize(total);
      copy_to_host(hostModel.m.data(), m.f(), bytes);
      copy_to_host(hostModel.v.data(), v.f(), bytes);
    } else {
      hostModel.m.clear();
      hostModel.v.clear();
    }
    hostModel.g.clear();
    hostModel.step = step;
    return hostModel;
  }
};

CudaModel::CudaModel(const Model<float>& host, MathMode mode) : p_(std::make_unique<Impl>(host, mode)) {}
CudaModel::~CudaModel() = default;

const char* CudaModel::precision() const { return p_->mode == MathMode::BF16 ? "bf16" : "fp32"; }
const ModelConfig& CudaModel::config() const { return p_->cfg; }
size_t CudaModel::numParams() const { return p_->total; }
long CudaModel::step() const { return p_->step; }
StepStats CudaModel::trainStep(const SeqBatch& b, const LossConfig& loss, const OptimConfig& opt) {
  return p_->train_step(b, loss, opt);
}
void CudaModel::score(const SeqBatch& b, std::vector<double>* lp, std::vector<double>* ent) {
  p_->run(b, nullptr, lp, ent, false);
}
GenResult CudaModel::generate(const GenRequest& r) { return p_->generate(r); }
const Model<float>& CudaModel::host() { return p_->sync_host(); }
void CudaModel::setCancelFlag(std::atomic<bool>* flag) { p_->cancel = flag; }
void CudaModel::setChunkRows(size_t rows) { p_->chunkRows = rows; }
std::unique_ptr<Backend> CudaModel::clone() { return std::make_unique<CudaModel>(p_->sync_host(), p_->mode); }

StepStats CudaModel::lossAndGradients(const SeqBatch& b, const LossConfig& loss, std::vector<float>* grads) {
  device_zero(p_->g.f(), p_->total * sizeof(float));
  StepStats st = p_->run(b, &loss, nullptr, nullptr, true);
  st.gradNorm = p_->grad_norm();
  if (grads) {
    grads->resize(p_->total);
    copy_to_host(grads->data(), p_->g.f(), p_->total * sizeof(float));
  }
  return st;
}

}  // namespace cuda
}  // namespace arclight

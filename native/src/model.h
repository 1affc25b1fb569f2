// The decoder-only transformer (GPT-2, Qwen2 and Llama families from one config) on
// the CPU: parameters, forward with KV caches, hand-written backward, losses,
// AdamW step and the KV-cached sampler. Templated on the float type so a
// double build can check the fp32 gradients (see gradcheck.h).
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "activations.h"
#include "adamw.h"
#include "attention.h"
#include "bf16_weights.h"
#include "batch_loss.h"
#include "cancel.h"
#include "config.h"
#include "generation.h"
#include "grpo.h"
#include "layernorm.h"
#include "matmul.h"
#include "param_names.h"
#include "rope.h"
#include "sampler.h"
#include "seq_batch.h"

namespace arclight {

inline constexpr size_t kAbsent = SIZE_MAX;

struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0, size = 0;
  bool decay = false;  // weight decay applies to matrices only
};

template <typename F>
class Model {
 public:
  // KV cache: [layers][cap][kvDim] for K and for V.
  struct KVCache {
    int cap = 0;
    std::vector<F> k, v;
    KVCache() = default;
    KVCache(const ModelConfig& c, int capacity)
        : cap(capacity), k((size_t)c.layers * capacity * c.kvDim()), v(k.size()) {}
    F* kl(int l, int kvd) { return k.data() + (size_t)l * cap * kvd; }
    F* vl(int l, int kvd) { return v.data() + (size_t)l * cap * kvd; }
  };

  ModelConfig cfg;
  std::vector<ParamInfo> params;
  // w holds the parameters from wFrom() on in F (all of them unless the base is stored in bf16);
  // wb holds the ones before it as bf16 bits. g, m and v cover the trained tail [trainableBase(), end).
  std::vector<F> w, g, m, v;
  std::vector<uint16_t> wb;
  long step = 0;

  // BaseStorage::BF16 keeps the frozen base in wb: the whole base under LoRA, every parameter
  // without LoRA (an inference-only policy: training it is refused).
  explicit Model(const ModelConfig& c, BaseStorage storage = BaseStorage::FP32) : cfg(c) {
    cfg.validate();
    if (cfg.qwen()) invFreq_ = cfg.ropeInvFreq();
    build_layout();
    if (storage == BaseStorage::BF16) {
      if (!std::is_same<F, float>::value) throw std::logic_error("bf16 base weights need the fp32 model");
      wFrom_ = cfg.lora.rank > 0 ? gBase_ : total_;
      wb.assign(wFrom_, 0);
    }
    w.assign(total_ - wFrom_, F(0));
  }

  bool baseBf16() const { return wFrom_ > 0; }
  // The first parameter offset held in w (0 unless the base is bf16).
  size_t wFrom() const { return wFrom_; }
  // Bytes of the weights held now, by dtype (parked adapters not included).
  size_t weightBytesF32() const { return w.size() * sizeof(F); }
  size_t weightBytesBf16() const { return wb.size() * sizeof(uint16_t); }

  // A parameter's values in F whatever its storage (bf16 widens exactly).
  std::vector<F> param_values(const ParamInfo& p) const {
    std::vector<F> out(p.size);
    if (p.offset >= wFrom_) {
      std::copy(w.begin() + (p.offset - wFrom_), w.begin() + (p.offset - wFrom_ + p.size), out.begin());
    } else {
      for (size_t i = 0; i < p.size; i++) out[i] = (F)bf16_bits_to_f32(wb[p.offset + i]);
    }
    return out;
  }
  // Sets a parameter's values; a bf16-stored one rounds to nearest even (exact for bf16 sources).
  void set_param(const ParamInfo& p, const float* src) {
    if (p.offset >= wFrom_) {
      for (size_t i = 0; i < p.size; i++) w[p.offset - wFrom_ + i] = (F)src[i];
    } else {
      for (size_t i = 0; i < p.size; i++) wb[p.offset + i] = f32_to_bf16_bits(src[i]);
    }
  }

  size_t numParams() const { return total_; }

  const ParamInfo* find(const std::string& name) const {
    for (auto& p : params)
      if (p.name == name) return &p;
    return nullptr;
  }
  bool trainable(const ParamInfo& p) const { return p.offset >= gBase_; }
  // Gradient of a trainable parameter after compute_gradients (g covers the trainable tail only).
  const F* grad_of(const ParamInfo& p) const { return trainable(p) ? g.data() + (p.offset - gBase_) : nullptr; }
  size_t numTrainable() const { return total_ - gBase_; }

  // GPT-2 init: N(0, 0.02), residual projections scaled by 1/sqrt(2L), norms 1, biases 0.
  void init(uint64_t seed) {
    if (baseBf16()) throw std::logic_error("random init needs fp32 base weights");
    Rng rng(seed ^ 0xA5C1u);
    const double resid = 0.02 / std::sqrt(2.0 * cfg.layers);
    for (auto& p : params) {
      if (is_lora(p)) continue;
      F* d = w.data() + p.offset;
      const bool isNorm = p.name.find("ln") != std::string::npos;
      const bool isBias = p.name.size() >= 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
      if (isNorm && !isBias) {
        for (size_t i = 0; i < p.size; i++) d[i] = F(1);
        continue;
      }
      if (isBias) {
        for (size_t i = 0; i < p.size; i++) d[i] = F(0);
        continue;
      }
      const bool isProj = p.name.find("proj.weight") != std::string::npos;
      const double sd = isProj ? resid : 0.02;
      for (size_t i = 0; i < p.size; i++) d[i] = (F)(rng.normal() * sd);
    }
    init_lora(seed);
  }

  // PEFT's LoRA init: A ~ kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0, so a fresh
  // adapter leaves the base model's outputs unchanged.
  void init_lora(uint64_t seed) {
    Rng rng(seed ^ 0x10AAu);
    for (auto& p : params) {
      if (!is_lora(p)) continue;
      F* d = W(p.offset);
      const bool isA = p.name.compare(p.name.size() - 2, 2, ".A") == 0;
      const double bound = isA ? 1.0 / std::sqrt((double)p.shape[1]) : 0.0;
      for (size_t i = 0; i < p.size; i++) d[i] = (F)(isA ? (2 * rng.uniform() - 1) * bound : 0.0);
    }
  }

  static bool is_lora(const ParamInfo& p) { return p.name.find(".lora.") != std::string::npos; }
  size_t trainableBase() const { return gBase_; }

  // ==========================================================================
  // Named adapters over the one frozen base (one per agent). The active adapter is the trained
  // tail of w with m, v and step; the others are parked with their own AdamW moments and step
  // count, and swapped in (a copy of the adapter weights only) when a call names them.
  struct AdapterState {
    std::vector<F> w, m, v;
    long step = 0;
  };
  static constexpr const char* kDefaultAdapter = "default";  // PEFT's name for the first adapter
  std::string activeAdapter = kDefaultAdapter;
  std::map<std::string, AdapterState> parked;

  // Makes `name` the active adapter; one that does not exist yet starts fresh (PEFT init seeded by
  // its name, zero moments, step 0).
  void use_adapter(const std::string& name) {
    if (name == activeAdapter) return;
    if (cfg.lora.rank == 0)
      throw std::invalid_argument("adapter \"" + name +
                                  "\": named adapters need LoRA (lora in the config or in fromPretrained's options)");
    AdapterState out;
    out.w.assign(w.begin() + (gBase_ - wFrom_), w.end());
    out.m = std::move(m);
    out.v = std::move(v);
    out.step = step;
    auto it = parked.find(name);
    if (it != parked.end()) {
      std::copy(it->second.w.begin(), it->second.w.end(), w.begin() + (gBase_ - wFrom_));
      m = std::move(it->second.m);
      v = std::move(it->second.v);
      step = it->second.step;
      parked.erase(it);
    } else {
      init_lora(adapter_seed(name));
      m.clear();
      v.clear();
      step = 0;
    }
    parked[activeAdapter] = std::move(out);
    activeAdapter = name;
  }

  // Drops a parked adapter (the active one cannot be removed: switch away first).
  void remove_adapter(const std::string& name) {
    if (name == activeAdapter)
      throw std::invalid_argument("adapter \"" + name + "\" is active; select another adapter before removing it");
    if (!parked.erase(name)) throw std::invalid_argument("no adapter named \"" + name + "\"");
  }

  // Bytes of the parked adapters: weights, and AdamW moments once they have trained.
  size_t parked_weight_bytes() const {
    size_t n = 0;
    for (auto& kv : parked) n += kv.second.w.size();
    return n * sizeof(F);
  }
  size_t parked_optimizer_bytes() const {
    size_t n = 0;
    for (auto& kv : parked) n += kv.second.m.size() + kv.second.v.size();
    return n * sizeof(F);
  }

  static uint64_t adapter_seed(const std::string& name) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
    return h;
  }

  // The base model with every adapter folded in: W += (alpha / rank) * B A on the adapted rows.
  std::unique_ptr<Model<F>> merged() const {
    ModelConfig c = cfg;
    c.lora = LoraConfig{};
    auto out = std::make_unique<Model<F>>(c);          // fp32: the merged weights are no longer bf16 values
    for (size_t i = 0; i < out->params.size(); i++) {  // base parameters come first, same layout
      const std::vector<F> vals = param_values(params[i]);
      std::copy(vals.begin(), vals.end(), out->w.begin() + out->params[i].offset);
    }
    const double sc = cfg.lora.scale();
    for (int l = 0; l < cfg.layers; l++) {
      for (int t = 0; t < kLoraTargets; t++) {
        const LayerOff& o = off_.L[l];
        if (o.loraA[t] == kAbsent) continue;
        const LoraSite st = site(l, t);
        const int r = cfg.lora.rank;
        const F* A = w.data() + (o.loraA[t] - wFrom_);
        const F* B = w.data() + (o.loraB[t] - wFrom_);
        F* Wb = out->w.data() + st.weight + (size_t)st.row0 * st.in;
        for (int j = 0; j < st.out; j++)
          for (int c2 = 0; c2 < st.in; c2++) {
            double acc = 0;
            for (int k = 0; k < r; k++) acc += (double)B[(size_t)j * r + k] * A[(size_t)k * st.in + c2];
            Wb[(size_t)j * st.in + c2] += (F)(sc * acc);
          }
      }
    }
    return out;
  }

  template <typename G>
  void copy_weights_from(const Model<G>& o) {
    if (baseBf16() || o.baseBf16()) throw std::logic_error("copy_weights_from needs fp32 weights on both sides");
    for (size_t i = 0; i < total_; i++) w[i] = (F)o.w[i];
  }

  // ==========================================================================
  // forward
  // Rows i = 0..N-1 with token tokens[i] at position pos[i], writing K/V into
  // caches[i] and attending to that cache's positions 0..pos[i]. Training passes
  // one cache for all rows and keeps attention probabilities (train = true).
  // Logits are computed for rows [logitsFrom, N) into acts.logits.
  struct LayerActs {
    std::vector<F> xin, ln1, ln1m, ln1r, q, att, atty, x2, ln2, ln2m, ln2r, fch, fcg;
    // LoRA, per target: t = dropout(x) A^T, the dropped-out input and its keep mask (dropout > 0 only)
    std::array<std::vector<F>, kLoraTargets> loraT, loraX;
    std::array<std::vector<uint8_t>, kLoraTargets> loraKeep;
  };
  struct Acts {
    std::vector<LayerActs> L;
    std::vector<F> xout, lnf, lnfm, lnfr, logits, qkv, tmp;
    // backward scratch
    std::vector<F> dx, dx2, dln, dlnf, dfcg, dfch, datty, dq, dk, dv, dqkv, dlogits;
    std::vector<F> loraU, loraDT, loraDX;  // LoRA scratch
  };

  void forward(const int* tokens, const int* pos, KVCache* const* caches, int N, Acts& a, bool train, int logitsFrom) {
    const int C = cfg.dModel, H = cfg.heads, KV = cfg.kvHeads, D = cfg.headDim(), QKV = cfg.qkvDim(), KVD = cfg.kvDim();
    const int Fd = cfg.ffnDim(), Fh = cfg.qwen() ? 2 * Fd : Fd, V = cfg.vocab;
    const F eps = (F)cfg.normEps;
    a.L.resize(cfg.layers);
    for (int i = 0; i < N; i++) {
      cfg.checkToken(tokens[i]);
      if (pos[i] < 0 || pos[i] >= cfg.ctx || pos[i] >= caches[i]->cap)
        throw std::out_of_range("position beyond context length " + std::to_string(cfg.ctx));
    }
    // embeddings
    LayerActs& l0 = a.L[0];
    l0.xin.resize((size_t)N * C);
    for (int i = 0; i < N; i++) {
      F* x = l0.xin.data() + (size_t)i * C;
      embed_row(x, off_.wte, tokens[i], false);
      if (!cfg.qwen()) embed_row(x, off_.wpe, pos[i], true);
    }
    a.qkv.resize((size_t)N * QKV);
    a.tmp.resize((size_t)N * C);
    std::vector<const F*> kc(N), vc(N);
    for (int l = 0; l < cfg.layers; l++) {
      check_cancel();
      const LayerOff& o = off_.L[l];
      LayerActs& la = a.L[l];
      std::vector<F>& out = (l + 1 < cfg.layers) ? a.L[l + 1].xin : a.xout;
      la.ln1.resize((size_t)N * C);
      la.ln1m.resize(N);
      la.ln1r.resize(N);
      la.q.resize((size_t)N * H * D);
      la.atty.resize((size_t)N * H * D);
      la.x2.resize((size_t)N * C);
      la.ln2.resize((size_t)N * C);
      la.ln2m.resize(N);
      la.ln2r.resize(N);
      la.fch.resize((size_t)N * Fh);
      la.fcg.resize((size_t)N * Fd);
      out.resize((size_t)N * C);
      norm_fwd(la.ln1.data(), la.ln1m.data(), la.ln1r.data(), la.xin.data(), o.ln1w, o.ln1b, N, eps);
      mm_fwd(a.qkv.data(), la.ln1.data(), o.qkvw, o.qkvb, N, C, QKV);
      for (int t : {kLoraQ, kLoraK, kLoraV}) lora_forward(l, t, la.ln1.data(), a.qkv.data(), N, la, a, train);
      for (int i = 0; i < N; i++) {
        const F* r = a.qkv.data() + (size_t)i * QKV;
        std::memcpy(la.q.data() + (size_t)i * H * D, r, sizeof(F) * H * D);
        F* kr = caches[i]->kl(l, KVD) + (size_t)pos[i] * KVD;
        F* vr = caches[i]->vl(l, KVD) + (size_t)pos[i] * KVD;
        std::memcpy(kr, r + H * D, sizeof(F) * KVD);
        std::memcpy(vr, r + H * D + KVD, sizeof(F) * KVD);
        if (cfg.qwen()) rope_forward_cpu(kr, KVD, 1, KV, D, pos + i, invFreq_.data());
        kc[i] = caches[i]->kl(l, KVD);
        vc[i] = caches[i]->vl(l, KVD);
      }
      if (cfg.qwen()) rope_forward_cpu(la.q.data(), (size_t)H * D, N, H, D, pos, invFreq_.data());
      F* att = nullptr;
      if (train) {
        la.att.resize((size_t)N * H * N);
        att = la.att.data();
      }
      attention_forward_cpu(la.atty.data(), att, N, la.q.data(), kc.data(), vc.data(), pos, N, H, KV, D);
      mm_fwd(a.tmp.data(), la.atty.data(), o.projw, o.projb, N, H * D, C);
      lora_forward(l, kLoraO, la.atty.data(), a.tmp.data(), N, la, a, train);
      for (size_t i = 0; i < (size_t)N * C; i++) la.x2[i] = la.xin[i] + a.tmp[i];
      norm_fwd(la.ln2.data(), la.ln2m.data(), la.ln2r.data(), la.x2.data(), o.ln2w, o.ln2b, N, eps);
      mm_fwd(la.fch.data(), la.ln2.data(), o.fcw, o.fcb, N, C, Fh);
      for (int t : {kLoraGate, kLoraUp}) lora_forward(l, t, la.ln2.data(), la.fch.data(), N, la, a, train);
      if (cfg.qwen())
        swiglu_forward_cpu(la.fcg.data(), la.fch.data(), N, Fd);
      else
        gelu_forward_cpu(la.fcg.data(), la.fch.data(), (size_t)N * Fd);
      mm_fwd(a.tmp.data(), la.fcg.data(), o.mlpw, o.mlpb, N, Fd, C);
      lora_forward(l, kLoraDown, la.fcg.data(), a.tmp.data(), N, la, a, train);
      for (size_t i = 0; i < (size_t)N * C; i++) out[i] = la.x2[i] + a.tmp[i];
    }
    a.lnf.resize((size_t)N * C);
    a.lnfm.resize(N);
    a.lnfr.resize(N);
    norm_fwd(a.lnf.data(), a.lnfm.data(), a.lnfr.data(), a.xout.data(), off_.lnfw, off_.lnfb, N, eps);
    const int R = N - logitsFrom;
    a.logits.resize((size_t)R * V);
    if (R > 0) mm_fwd(a.logits.data(), a.lnf.data() + (size_t)logitsFrom * C, head(), kAbsent, R, C, V);
  }

  // ==========================================================================
  // backward for one sequence after forward(train = true): a.dlogits holds
  // dLoss/dlogits for rows [logitsFrom, N). Accumulates into g.
  void backward(const int* tokens, const int* pos, KVCache& cache, int N, Acts& a, int logitsFrom) {
    const int C = cfg.dModel, H = cfg.heads, KV = cfg.kvHeads, D = cfg.headDim(), QKV = cfg.qkvDim(), KVD = cfg.kvDim();
    const int Fd = cfg.ffnDim(), Fh = cfg.qwen() ? 2 * Fd : Fd, V = cfg.vocab;
    const size_t NC = (size_t)N * C;
    a.dlnf.assign(NC, F(0));
    const int R = N - logitsFrom;
    if (R > 0)
      mm_bwd(a.dlnf.data() + (size_t)logitsFrom * C, head(), kAbsent, a.dlogits.data(),
             a.lnf.data() + (size_t)logitsFrom * C, R, C, V);
    a.dx.assign(NC, F(0));
    norm_bwd(a.dx.data(), off_.lnfw, off_.lnfb, a.dlnf.data(), a.xout.data(), a.lnfm.data(), a.lnfr.data(), N);
    for (int l = cfg.layers - 1; l >= 0; l--) {
      check_cancel();
      const LayerOff& o = off_.L[l];
      LayerActs& la = a.L[l];
      // MLP block: out = x2 + mlp(norm2(x2))
      a.dfcg.assign((size_t)N * Fd, F(0));
      mm_bwd(a.dfcg.data(), o.mlpw, o.mlpb, a.dx.data(), la.fcg.data(), N, Fd, C);
      lora_backward(l, kLoraDown, a.dx.data(), la.fcg.data(), a.dfcg.data(), N, la, a);
      a.dfch.assign((size_t)N * Fh, F(0));
      if (cfg.qwen())
        swiglu_backward_cpu(a.dfch.data(), la.fch.data(), a.dfcg.data(), N, Fd);
      else
        gelu_backward_cpu(a.dfch.data(), la.fch.data(), a.dfcg.data(), (size_t)N * Fd);
      a.dln.assign(NC, F(0));
      mm_bwd(a.dln.data(), o.fcw, o.fcb, a.dfch.data(), la.ln2.data(), N, C, Fh);
      for (int t : {kLoraGate, kLoraUp}) lora_backward(l, t, a.dfch.data(), la.ln2.data(), a.dln.data(), N, la, a);
      a.dx2 = a.dx;
      norm_bwd(a.dx2.data(), o.ln2w, o.ln2b, a.dln.data(), la.x2.data(), la.ln2m.data(), la.ln2r.data(), N);
      // attention block: x2 = xin + proj(attn(norm1(xin)))
      a.datty.assign((size_t)N * H * D, F(0));
      mm_bwd(a.datty.data(), o.projw, o.projb, a.dx2.data(), la.atty.data(), N, H * D, C);
      lora_backward(l, kLoraO, a.dx2.data(), la.atty.data(), a.datty.data(), N, la, a);
      a.dq.assign((size_t)N * H * D, F(0));
      a.dk.assign((size_t)N * KVD, F(0));
      a.dv.assign((size_t)N * KVD, F(0));
      attention_backward_cpu(a.dq.data(), a.dk.data(), a.dv.data(), a.datty.data(), la.att.data(), la.q.data(),
                             cache.kl(l, KVD), cache.vl(l, KVD), N, H, KV, D);
      if (cfg.qwen()) {
        rope_backward_cpu(a.dq.data(), (size_t)H * D, N, H, D, pos, invFreq_.data());
        rope_backward_cpu(a.dk.data(), (size_t)KVD, N, KV, D, pos, invFreq_.data());
      }
      a.dqkv.resize((size_t)N * QKV);
      for (int i = 0; i < N; i++) {
        F* r = a.dqkv.data() + (size_t)i * QKV;
        std::memcpy(r, a.dq.data() + (size_t)i * H * D, sizeof(F) * H * D);
        std::memcpy(r + H * D, a.dk.data() + (size_t)i * KVD, sizeof(F) * KVD);
        std::memcpy(r + H * D + KVD, a.dv.data() + (size_t)i * KVD, sizeof(F) * KVD);
      }
      a.dln.assign(NC, F(0));
      mm_bwd(a.dln.data(), o.qkvw, o.qkvb, a.dqkv.data(), la.ln1.data(), N, C, QKV);
      for (int t : {kLoraQ, kLoraK, kLoraV}) lora_backward(l, t, a.dqkv.data(), la.ln1.data(), a.dln.data(), N, la, a);
      a.dx = a.dx2;
      norm_bwd(a.dx.data(), o.ln1w, o.ln1b, a.dln.data(), la.xin.data(), la.ln1m.data(), la.ln1r.data(), N);
    }
    F* gwte = G(off_.wte);
    if (!gwte) return;  // frozen base (LoRA)
    for (int i = 0; i < N; i++) {
      const F* d = a.dx.data() + (size_t)i * C;
      F* e = gwte + (size_t)tokens[i] * C;
      for (int c = 0; c < C; c++) e[c] += d[c];
      if (!cfg.qwen()) {
        F* p = G(off_.wpe) + (size_t)pos[i] * C;
        for (int c = 0; c < C; c++) p[c] += d[c];
      }
    }
  }

  // ==========================================================================
  // Scores every response token of the batch; with `loss` also computes the
  // loss and accumulates its gradient into g. lpOut/entOut (may be null)
  // receive per-response-token logprob and entropy, in batch order.
  StepStats score(const SeqBatch& b, const LossConfig* loss, std::vector<double>* lpOut, std::vector<double>* entOut,
                  bool doBackward = true) {
    const int V = cfg.vocab;
    b.check_for(cfg);
    BatchLoss bl(b, loss, lpOut, entOut);
    Acts a;
    std::vector<int> pos;
    for (size_t s = 0; s < b.numSeqs(); s++) {
      check_cancel();
      const int P = b.promptLen[s], Rn = b.respLen[s], N = P + Rn;
      if (Rn == 0) continue;
      const int* tok = b.tokens.data() + b.tokOff[s];
      pos.resize(N);
      for (int i = 0; i < N; i++) pos[i] = i;
      KVCache cache(cfg, N);
      std::vector<KVCache*> cp(N, &cache);
      const int from = P - 1;
      // the last row predicts past the sequence, so only rows P-1 .. N-2 are scored
      forward(tok, pos.data(), cp.data(), N, a, loss != nullptr && doBackward, from);
      if (loss) a.dlogits.assign((size_t)(N - from) * V, F(0));
      for (int t = 0; t < Rn; t++) {
        const F* z = a.logits.data() + (size_t)t * V;
        const int y = tok[P + t];
        double lp, ent;
        logprob_entropy_row(z, V, y, &lp, &ent);
        const TokenGrad tg = bl.add(s, t, lp, ent);
        if (!doBackward || !tg.any()) continue;
        // d/dz_j: dLogp * (1[j=y] - p_j) + dEntropy * (-p_j (log p_j + H))
        const double gl = tg.dLogp, ge = tg.dEntropy;
        F* dz = a.dlogits.data() + (size_t)t * V;
        double mx = -INFINITY;
        for (int j = 0; j < V; j++) mx = std::fmax(mx, (double)z[j]);
        double sum = 0;
        for (int j = 0; j < V; j++) sum += std::exp((double)z[j] - mx);
        const double lse = mx + std::log(sum);
        for (int j = 0; j < V; j++) {
          const double lpj = (double)z[j] - lse, pj = std::exp(lpj);
          dz[j] = (F)(gl * ((j == y ? 1.0 : 0.0) - pj) - ge * pj * (lpj + ent));
        }
      }
      if (loss && doBackward) backward(tok, pos.data(), cache, N, a, from);
    }
    return bl.stats();
  }

  // Zeroes g, then loss + backward over the batch; gradNorm is the global norm before clipping.
  StepStats compute_gradients(const SeqBatch& b, const LossConfig& loss) {
    if (wFrom_ > gBase_)
      throw std::invalid_argument(
          "this policy stores its weights in bf16 for inference (baseWeights \"bf16\" without lora); training "
          "every weight needs fp32 weights: load it with baseWeights \"fp32\", or train LoRA adapters");
    g.assign(numTrainable(), F(0));
    StepStats st = score(b, &loss, nullptr, nullptr);
    st.gradNorm = grad_norm_cpu(g.data(), numTrainable());
    return st;
  }

  // One optimizer step on the batch: zero grads, loss + backward, clip, AdamW.
  StepStats train_step(const SeqBatch& b, const LossConfig& loss, const OptimConfig& opt) {
    const auto t0 = std::chrono::steady_clock::now();
    StepStats st = compute_gradients(b, loss);  // first: it refuses an inference-only bf16 policy
    if (m.size() != numTrainable()) {
      m.assign(numTrainable(), F(0));
      v.assign(numTrainable(), F(0));
    }
    const UpdatePlan up = plan_update(opt, step, st.loss, st.gradNorm);
    st.lr = up.lr;
    step++;
    for (auto& p : params) {
      if (!trainable(p)) continue;
      const size_t o = p.offset - gBase_;
      adamw_update_cpu(W(p.offset), g.data() + o, m.data() + o, v.data() + o, p.size, st.lr, opt, step, up.gradScale,
                       p.decay);
    }
    st.step = step;
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return st;
  }

  // ==========================================================================
  // Sampling. Each prompt is prefilled once; its n samples copy that cache and
  // decode together with every other live sample, one batched row each.
  GenResult generate(const GenRequest& r) {
    const int V = cfg.vocab;
    Decoding dec(r, cfg);
    const size_t Pn = r.prompts.size(), n = (size_t)r.n, S = dec.samples();
    std::vector<KVCache> caches(S);
    std::vector<std::vector<F>> logits(S, std::vector<F>(V));
    Acts a;
    for (size_t p = 0; p < Pn; p++) {
      const auto& pr = r.prompts[p];
      const int P = (int)pr.size();
      const int cap = std::min(cfg.ctx, P + std::max(r.maxTokens, 0));
      KVCache base(cfg, cap);
      std::vector<int> pos(P);
      for (int i = 0; i < P; i++) pos[i] = i;
      std::vector<KVCache*> cp(P, &base);
      if (r.useCache) forward(pr.data(), pos.data(), cp.data(), P, a, false, P - 1);
      for (size_t k = 0; k < n; k++) {
        const size_t s = p * n + k;
        if (r.useCache) {
          caches[s] = base;  // whole-cache copy: only the prompt rows are filled so far
          std::memcpy(logits[s].data(), a.logits.data(), sizeof(F) * V);
        }
      }
    }
    std::vector<std::vector<int>> seqs(S);
    for (size_t s = 0; s < S; s++) seqs[s] = dec.prompt(s);
    std::vector<size_t> live;
    if (r.maxTokens > 0)
      for (size_t s = 0; s < S; s++) live.push_back(s);
    std::vector<int> rowTok, rowPos;
    std::vector<KVCache*> rowCache;
    while (!live.empty()) {
      check_cancel();
      if (!r.useCache) {
        for (size_t s : live) {  // reference path: full forward of the whole sequence for every token
          const int N = (int)seqs[s].size();
          KVCache c(cfg, N);
          std::vector<int> pos(N);
          for (int i = 0; i < N; i++) pos[i] = i;
          std::vector<KVCache*> cp(N, &c);
          forward(seqs[s].data(), pos.data(), cp.data(), N, a, false, N - 1);
          std::memcpy(logits[s].data(), a.logits.data(), sizeof(F) * V);
        }
      }
      std::vector<size_t> next;
      rowTok.clear();
      rowPos.clear();
      rowCache.clear();
      for (size_t s : live) {
        int tok;
        const bool more = dec.next(s, logits[s].data(), &tok);
        seqs[s].push_back(tok);
        if (!more) continue;
        next.push_back(s);
        if (r.useCache) {
          rowTok.push_back(tok);
          rowPos.push_back((int)seqs[s].size() - 1);
          rowCache.push_back(&caches[s]);
        }
      }
      live.swap(next);
      if (r.useCache && !live.empty()) {
        const int N = (int)live.size();
        forward(rowTok.data(), rowPos.data(), rowCache.data(), N, a, false, 0);
        for (int i = 0; i < N; i++) std::memcpy(logits[live[i]].data(), a.logits.data() + (size_t)i * V, sizeof(F) * V);
      }
    }
    return dec.result();
  }

  // Checked between layers, sequences and tokens so long calls can stop.
  std::atomic<bool>* cancelFlag = nullptr;

  // Where each parameter starts in w (kAbsent where this family has none): the one layout, which the
  // CUDA backend reuses for its device copy of w.
  struct LayerOff {
    size_t ln1w, ln1b, qkvw, qkvb, projw, projb, ln2w, ln2b, fcw, fcb, mlpw, mlpb;
    std::array<size_t, kLoraTargets> loraA, loraB;
  };
  struct Offsets {
    size_t wte, wpe, lnfw, lnfb, lm;
    std::vector<LayerOff> L;
  };
  const Offsets& offsets() const { return off_; }
  // The output head's weight: wte when tied.
  size_t head() const { return cfg.tieEmbeddings ? off_.wte : off_.lm; }

 private:
  // Where adapter t of a layer acts: the fused base weight it adds to (rows row0 .. row0+out of a
  // [.., in] matrix), i.e. columns row0 .. row0+out of that matmul's output, whose rows are ld wide.
  struct LoraSite {
    size_t weight;
    int in, out, row0, ld;
  };
  LoraSite site(int l, int t) const {
    const LayerOff& o = off_.L[l];
    const int C = cfg.dModel, HD = cfg.heads * cfg.headDim(), KVD = cfg.kvDim(), QKV = cfg.qkvDim(), Fd = cfg.ffnDim();
    switch (t) {
      case kLoraQ:
        return {o.qkvw, C, HD, 0, QKV};
      case kLoraK:
        return {o.qkvw, C, KVD, HD, QKV};
      case kLoraV:
        return {o.qkvw, C, KVD, HD + KVD, QKV};
      case kLoraO:
        return {o.projw, HD, C, 0, C};
      case kLoraGate:
        return {o.fcw, C, Fd, 0, 2 * Fd};
      case kLoraUp:
        return {o.fcw, C, Fd, Fd, 2 * Fd};
      default:
        return {o.mlpw, Fd, C, 0, C};
    }
  }

  // out[:, row0 .. row0+out) += scale * (dropout(x) A^T) B^T; keeps t (and the dropout mask) for backward.
  void lora_forward(int l, int t, const F* x, F* out, int N, LayerActs& la, Acts& a, bool train) {
    const LayerOff& o = off_.L[l];
    if (o.loraA[t] == kAbsent) return;
    const LoraSite st = site(l, t);
    const int r = cfg.lora.rank;
    const F* xin = x;
    if (train && cfg.lora.dropout > 0) {
      const size_t n = (size_t)N * st.in;
      const F keepScale = (F)(1.0 / (1.0 - cfg.lora.dropout));
      la.loraX[t].resize(n);
      la.loraKeep[t].resize(n);
      for (size_t i = 0; i < n; i++) {
        const bool keep = loraRng_.uniform() >= cfg.lora.dropout;
        la.loraKeep[t][i] = keep;
        la.loraX[t][i] = keep ? x[i] * keepScale : F(0);
      }
      xin = la.loraX[t].data();
    }
    la.loraT[t].resize((size_t)N * r);
    matmul_forward(la.loraT[t].data(), xin, W(o.loraA[t]), (const F*)nullptr, N, st.in, r);
    a.loraU.resize((size_t)N * st.out);
    matmul_forward(a.loraU.data(), la.loraT[t].data(), W(o.loraB[t]), (const F*)nullptr, N, r, st.out);
    const F sc = (F)cfg.lora.scale();
    for (int i = 0; i < N; i++) {
      F* dst = out + (size_t)i * st.ld + st.row0;
      const F* u = a.loraU.data() + (size_t)i * st.out;
      for (int j = 0; j < st.out; j++) dst[j] += sc * u[j];
    }
  }

  // Gradients of adapter t: dB += dU^T t, dA += dT^T dropout(x), dx += dropout'(dT A), with dU the
  // scaled slice of the fused output's gradient dOut.
  void lora_backward(int l, int t, const F* dOut, const F* x, F* dx, int N, LayerActs& la, Acts& a) {
    const LayerOff& o = off_.L[l];
    if (o.loraA[t] == kAbsent) return;
    const LoraSite st = site(l, t);
    const int r = cfg.lora.rank;
    const F sc = (F)cfg.lora.scale();
    a.loraU.resize((size_t)N * st.out);
    for (int i = 0; i < N; i++) {
      const F* src = dOut + (size_t)i * st.ld + st.row0;
      F* u = a.loraU.data() + (size_t)i * st.out;
      for (int j = 0; j < st.out; j++) u[j] = sc * src[j];
    }
    a.loraDT.assign((size_t)N * r, F(0));
    matmul_backward(a.loraDT.data(), G(o.loraB[t]), (F*)nullptr, a.loraU.data(), la.loraT[t].data(), W(o.loraB[t]), N,
                    r, st.out);
    if (cfg.lora.dropout > 0 && la.loraX[t].size() == (size_t)N * st.in) {
      a.loraDX.assign((size_t)N * st.in, F(0));
      matmul_backward(a.loraDX.data(), G(o.loraA[t]), (F*)nullptr, a.loraDT.data(), la.loraX[t].data(), W(o.loraA[t]),
                      N, st.in, r);
      const F keepScale = (F)(1.0 / (1.0 - cfg.lora.dropout));
      for (size_t i = 0; i < a.loraDX.size(); i++)
        if (la.loraKeep[t][i]) dx[i] += a.loraDX[i] * keepScale;
    } else {
      matmul_backward(dx, G(o.loraA[t]), (F*)nullptr, a.loraDT.data(), x, W(o.loraA[t]), N, st.in, r);
    }
  }

  Rng loraRng_{0x10AAD0u};  // LoRA dropout masks
  Offsets off_;
  size_t total_ = 0;
  size_t gBase_ = 0;             // parameters at offsets >= gBase_ are trained; g, m and v cover [gBase_, total_)
  std::vector<double> invFreq_;  // RoPE frequencies (Qwen2, Llama)

  size_t add(const std::string& name, std::vector<int64_t> shape, bool present = true) {
    if (!present) return kAbsent;
    ParamInfo p;
    p.name = name;
    p.shape = shape;
    p.offset = total_;
    p.size = 1;
    for (auto d : shape) p.size *= (size_t)d;
    p.decay = shape.size() >= 2;
    total_ += p.size;
    params.push_back(p);
    return p.offset;
  }

  void build_layout() {
    namespace n = arclight::names;
    const int64_t C = cfg.dModel, V = cfg.vocab, T = cfg.ctx, QKV = cfg.qkvDim(),
                  HD = (int64_t)cfg.heads * cfg.headDim(), Fd = cfg.ffnDim();
    const bool gpt = !cfg.qwen();
    off_.wte = add(n::kWte, {V, C});
    off_.wpe = add(n::kWpe, {T, C}, gpt);
    for (int i = 0; i < cfg.layers; i++) {
      LayerOff o;
      o.ln1w = add(n::layer(i, n::kLn1Weight), {C});
      o.ln1b = add(n::layer(i, n::kLn1Bias), {C}, gpt);
      o.qkvw = add(n::layer(i, n::kQkvWeight), {QKV, C});
      o.qkvb = add(n::layer(i, n::kQkvBias), {QKV}, cfg.qkvBias());
      o.projw = add(n::layer(i, n::kAttnProjWeight), {C, HD});
      o.projb = add(n::layer(i, n::kAttnProjBias), {C}, gpt);
      o.ln2w = add(n::layer(i, n::kLn2Weight), {C});
      o.ln2b = add(n::layer(i, n::kLn2Bias), {C}, gpt);
      if (gpt) {
        o.fcw = add(n::layer(i, n::kFcWeight), {Fd, C});
        o.fcb = add(n::layer(i, n::kFcBias), {Fd});
      } else {
        o.fcw = add(n::layer(i, n::kGateUpWeight), {2 * Fd, C});
        o.fcb = kAbsent;
      }
      o.mlpw = add(n::layer(i, n::kMlpProjWeight), {C, Fd});
      o.mlpb = add(n::layer(i, n::kMlpProjBias), {C}, gpt);
      o.loraA.fill(kAbsent);
      o.loraB.fill(kAbsent);
      off_.L.push_back(o);
    }
    off_.lnfw = add(n::kLnfWeight, {C});
    off_.lnfb = add(n::kLnfBias, {C}, gpt);
    off_.lm = add(n::kLmHead, {V, C}, !cfg.tieEmbeddings);
    // Adapters after the whole base, so the trained parameters (and g, m, v) are one contiguous tail.
    if (cfg.lora.rank > 0) {
      gBase_ = total_;
      const int64_t r = cfg.lora.rank;
      for (int i = 0; i < cfg.layers; i++)
        for (int t = 0; t < kLoraTargets; t++) {
          if (!cfg.lora.has(t)) continue;
          const LoraSite st = site(i, t);
          const std::string base = n::layer(i, "lora.") + lora_target_name(t);
          off_.L[i].loraA[t] = add(base + ".A", {r, st.in});
          off_.L[i].loraB[t] = add(base + ".B", {st.out, r});
        }
    }
  }

  size_t wFrom_ = 0;                     // parameters before this offset live in wb as bf16 (BaseStorage::BF16)
  std::array<std::vector<F>, 2> small_;  // a bf16 norm weight and bias (or GEMM bias) widened for one call

  F* W(size_t o) {
    if (o == kAbsent) return nullptr;
    if (o < wFrom_) throw std::logic_error("W(): parameter stored as bf16 (use mm_fwd / mm_bwd / Wf32)");
    return w.data() + (o - wFrom_);
  }
  // The parameter at offset o (n values) as F: in place when stored in F, else widened into small_[slot].
  const F* Wf32(size_t o, size_t n, int slot) {
    if (o == kAbsent) return nullptr;
    if (o >= wFrom_) return w.data() + (o - wFrom_);
    small_[slot].resize(n);
    for (size_t i = 0; i < n; i++) small_[slot][i] = (F)bf16_bits_to_f32(wb[o + i]);
    return small_[slot].data();
  }
  // x (+)= row `row` of the [rows, C] table at offset o (token or position embedding).
  void embed_row(F* x, size_t o, int row, bool add) {
    const int C = cfg.dModel;
    const size_t at = o + (size_t)row * C;
    if (at >= wFrom_) {
      const F* e = w.data() + (at - wFrom_);
      for (int c = 0; c < C; c++) x[c] = add ? x[c] + e[c] : e[c];
    } else {
      const uint16_t* e = wb.data() + at;
      for (int c = 0; c < C; c++) x[c] = add ? x[c] + (F)bf16_bits_to_f32(e[c]) : (F)bf16_bits_to_f32(e[c]);
    }
  }
  // out = inp @ W[wo]^T + b[bo] for a base or adapter matrix in either storage.
  void mm_fwd(F* out, const F* inp, size_t wo, size_t bo, int N, int C, int OC) {
    if (wo >= wFrom_) return matmul_forward(out, inp, W(wo), W(bo), N, C, OC);
    if constexpr (std::is_same<F, float>::value)
      matmul_forward_bf16(out, inp, wb.data() + wo, Wf32(bo, (size_t)OC, 0), N, C, OC);
  }
  // dinp += dout @ W[wo], and the weight's and bias's gradients where they are trained (bf16 ones never are).
  void mm_bwd(F* dinp, size_t wo, size_t bo, const F* dout, const F* inp, int N, int C, int OC) {
    if (wo >= wFrom_) return matmul_backward(dinp, G(wo), G(bo), dout, inp, W(wo), N, C, OC);
    if constexpr (std::is_same<F, float>::value) matmul_backward_bf16(dinp, dout, wb.data() + wo, N, C, OC);
  }
  F* G(size_t o) { return o == kAbsent || o < gBase_ ? nullptr : g.data() + (o - gBase_); }

  void check_cancel() const { arclight::check_cancel(cancelFlag); }

  void norm_fwd(F* out, F* mean, F* rstd, const F* inp, size_t wo, size_t bo, int N, F eps) {
    if (cfg.qwen())
      rmsnorm_forward_cpu(out, rstd, inp, Wf32(wo, cfg.dModel, 0), N, cfg.dModel, eps);
    else
      layernorm_forward_cpu(out, mean, rstd, inp, Wf32(wo, cfg.dModel, 0), Wf32(bo, cfg.dModel, 1), N, cfg.dModel, eps);
  }
  void norm_bwd(F* dinp, size_t wo, size_t bo, const F* dout, const F* inp, const F* mean, const F* rstd, int N) {
    if (cfg.qwen())
      rmsnorm_backward_cpu(dinp, G(wo), dout, inp, Wf32(wo, cfg.dModel, 0), rstd, N, cfg.dModel);
    else
      layernorm_backward_cpu(dinp, G(wo), G(bo), dout, inp, Wf32(wo, cfg.dModel, 0), mean, rstd, N, cfg.dModel);
  }
};

}  // namespace arclight

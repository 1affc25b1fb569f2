// What generate takes and returns, and the host-side work of decoding that both backends share:
// prompt checks, one seeded stream per sample, drawing a token from a logits row with both of its
// logprobs, and why a sample stops. The backends differ only in how they compute the logits rows.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "sampler.h"

namespace arclight {

struct GenRequest {
  std::vector<std::vector<int>> prompts;
  int n = 1;
  SampleConfig sc;
  uint64_t seed = 0;
  std::vector<int> stop;
  int maxTokens = 16;
  bool useCache = true;
};

struct GenResult {
  // prompt-major: entry p * n + k is sample k of prompt p
  std::vector<std::vector<int>> tokens;
  std::vector<std::vector<double>> logprobs;        // under the policy at temperature 1
  std::vector<std::vector<double>> sampleLogprobs;  // under the sampling distribution
  std::vector<std::string> finish;                  // "stop" | "length" | "ctx"
  long generated = 0;
};

// One generate call's samples (prompt-major, s = p * n + k) as they are decoded.
class Decoding {
 public:
  // Checks every prompt before any work: not empty, shorter than the context, token ids in the vocabulary.
  Decoding(const GenRequest& r, const ModelConfig& cfg) : r_(r), ctx_(cfg.ctx), vocab_(cfg.vocab) {
    for (size_t p = 0; p < r.prompts.size(); p++) {
      const int P = (int)r.prompts[p].size();
      if (P < 1) throw std::invalid_argument("prompt " + std::to_string(p) + " is empty");
      if (P >= cfg.ctx)
        throw std::invalid_argument("prompt " + std::to_string(p) + " has " + std::to_string(P) + " tokens; ctx is " +
                                    std::to_string(cfg.ctx));
      for (int t : r.prompts[p]) cfg.checkToken(t);
    }
    const size_t S = samples();
    out_.tokens.resize(S);
    out_.logprobs.resize(S);
    out_.sampleLogprobs.resize(S);
    out_.finish.assign(S, "");
    for (size_t s = 0; s < S; s++) rngs_.emplace_back(sample_stream_seed(r.seed, s));
  }

  size_t samples() const { return r_.prompts.size() * (size_t)r_.n; }
  const std::vector<int>& prompt(size_t s) const { return r_.prompts[s / (size_t)r_.n]; }

  // Draws sample s's next token from its logits row and records it with its logprob under the policy
  // (temperature 1) and under the distribution sampled from. Returns false once the sample is
  // finished: a stop token, maxTokens generated, or the context full.
  template <typename F>
  bool next(size_t s, const F* logits, int* token) {
    double lp, slp;
    const int tok = sample_row(logits, vocab_, r_.sc, rngs_[s], &slp);
    logprob_entropy_row(logits, vocab_, tok, &lp, nullptr);
    out_.tokens[s].push_back(tok);
    out_.logprobs[s].push_back(lp);
    out_.sampleLogprobs[s].push_back(slp);
    out_.generated++;
    *token = tok;
    const int generated = (int)out_.tokens[s].size(), len = (int)prompt(s).size() + generated;
    if (std::find(r_.stop.begin(), r_.stop.end(), tok) != r_.stop.end())
      out_.finish[s] = "stop";
    else if (generated >= r_.maxTokens)
      out_.finish[s] = "length";
    else if (len >= ctx_)
      out_.finish[s] = "ctx";
    else
      return true;
    return false;
  }

  // The result; with maxTokens <= 0 nothing was decoded and every sample finished by "length".
  GenResult result() {
    if (r_.maxTokens <= 0)
      for (auto& f : out_.finish) f = "length";
    return std::move(out_);
  }

 private:
  const GenRequest& r_;
  int ctx_, vocab_;
  GenResult out_;
  std::vector<Rng> rngs_;
};

}  // namespace arclight

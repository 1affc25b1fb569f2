// A batch of training / scoring sequences (prompt ++ response, unpadded) with its per-sequence and
// per-token arrays, and the checks every backend makes before it starts work on one.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "config.h"

namespace arclight {

// Sequence s is tokens[tokOff[s] .. tokOff[s] + promptLen[s] + respLen[s]); its response tokens'
// per-token arrays (oldLogprobs, refLogprobs, mask) start at respOff[s].
struct SeqBatch {
  std::vector<int> tokens, promptLen, respLen;
  std::vector<size_t> tokOff, respOff;
  std::vector<double> advantages;                      // per sequence (GRPO)
  std::vector<double> oldLogprobs, refLogprobs, mask;  // empty = absent (old: ratio 1; mask: all ones)

  size_t numSeqs() const { return promptLen.size(); }
  size_t respTokens() const {
    size_t n = 0;
    for (int r : respLen) n += r;
    return n;
  }
  // Shapes agree: one prompt and response length per sequence, tokens for all of them, one
  // advantage per sequence and one value per response token in the per-token arrays.
  void check() const {
    if (promptLen.size() != respLen.size()) throw std::invalid_argument("promptLens and responseLens differ in length");
    size_t total = 0, resp = 0;
    for (size_t s = 0; s < promptLen.size(); s++) {
      if (promptLen[s] < 1 || respLen[s] < 0)
        throw std::invalid_argument("sequence " + std::to_string(s) + ": prompt needs >= 1 token, response >= 0");
      total += (size_t)promptLen[s] + respLen[s];
      resp += respLen[s];
    }
    if (total != tokens.size()) throw std::invalid_argument("tokens length does not match promptLens + responseLens");
    if (!advantages.empty() && advantages.size() != promptLen.size())
      throw std::invalid_argument("advantages needs one value per sequence");
    for (auto* a : {&oldLogprobs, &refLogprobs, &mask})
      if (!a->empty() && a->size() != resp)
        throw std::invalid_argument("per-token arrays need one value per response token (" + std::to_string(resp) +
                                    ")");
  }
  // check(), then what a model of config `c` can take: every sequence within its context, every token
  // id in its vocabulary. Both backends call it before any work, so a bad batch changes nothing.
  void check_for(const ModelConfig& c) const {
    check();
    if (tokOff.size() != numSeqs() || respOff.size() != numSeqs())
      throw std::logic_error("SeqBatch used before finalize()");
    for (size_t s = 0; s < numSeqs(); s++) {
      const int n = promptLen[s] + respLen[s];
      if (n > c.ctx)
        throw std::invalid_argument("sequence of " + std::to_string(n) + " tokens exceeds ctx " +
                                    std::to_string(c.ctx));
      for (int i = 0; i < n; i++) c.checkToken(tokens[tokOff[s] + i]);
    }
  }
  void finalize() {
    tokOff.assign(numSeqs(), 0);
    respOff.assign(numSeqs(), 0);
    size_t t = 0, r = 0;
    for (size_t s = 0; s < numSeqs(); s++) {
      tokOff[s] = t;
      respOff[s] = r;
      t += promptLen[s] + respLen[s];
      r += respLen[s];
    }
  }
};

}  // namespace arclight

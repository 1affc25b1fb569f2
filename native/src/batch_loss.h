// The loss of a batch from its response tokens' logprobs and entropies, the one loop both backends
// run over the scored tokens: aggregation weights, each token's masked loss terms summed in batch
// order, the derivatives the backward pass starts from, and the metrics a step reports.
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

#include "grpo.h"
#include "seq_batch.h"

namespace arclight {

struct StepStats {
  double loss = 0, pgLoss = 0, kl = 0, entropy = 0, clipFrac = 0, ratioMean = 0;
  double gradNorm = 0, lr = 0, seconds = 0;
  long responseTokens = 0, totalTokens = 0;
  long step = 0;
};

// d(batch loss) / d(one token's logprob) and / d(its position's entropy), aggregation weight included.
struct TokenGrad {
  double dLogp = 0, dEntropy = 0;
  bool any() const { return dLogp != 0 || dEntropy != 0; }
};

class BatchLoss {
 public:
  // loss null: scoring only (outputs, no loss terms). lpOut / entOut (may be null) are resized to one
  // value per response token, in batch order.
  BatchLoss(const SeqBatch& b, const LossConfig* loss, std::vector<double>* lpOut, std::vector<double>* entOut)
      : b_(b), loss_(loss), lpOut_(lpOut), entOut_(entOut) {
    const size_t S = b.numSeqs();
    std::vector<double> maskSums(S, 0.0);
    int maxLen = 0;
    for (size_t s = 0; s < S; s++) {
      for (int t = 0; t < b.respLen[s]; t++) maskSums[s] += b.mask.empty() ? 1.0 : (double)b.mask[b.respOff[s] + t];
      maxLen = std::max(maxLen, b.respLen[s]);
      st_.totalTokens += b.promptLen[s] + b.respLen[s];
      st_.responseTokens += b.respLen[s];
    }
    wts_ = loss ? aggregation_weights(*loss, maskSums, maxLen) : std::vector<double>(S, 0.0);
    for (double x : maskSums) maskTotal_ += x;
    if (lpOut) lpOut->assign(b.respTokens(), 0.0);
    if (entOut) entOut->assign(b.respTokens(), 0.0);
  }

  // Response token t of sequence s has logprob lp and its position entropy ent: records both and adds
  // the token's loss terms. Tokens must come in batch order (the sums are then the same on every
  // backend, bit for bit). Zero derivatives when scoring or when the mask drops the token.
  TokenGrad add(size_t s, int t, double lp, double ent) {
    const size_t ri = b_.respOff[s] + t;
    if (lpOut_) (*lpOut_)[ri] = lp;
    if (entOut_) (*entOut_)[ri] = ent;
    if (!loss_) return {};
    const double mk = b_.mask.empty() ? 1.0 : (double)b_.mask[ri];
    if (mk == 0) return {};
    const double old = b_.oldLogprobs.empty() ? lp : (double)b_.oldLogprobs[ri];
    const bool hasRef = !b_.refLogprobs.empty();
    const double adv = b_.advantages.empty() ? 0.0 : b_.advantages[s];
    const TokenLoss tl = token_loss(*loss_, lp, old, hasRef, hasRef ? (double)b_.refLogprobs[ri] : 0.0, ent, adv);
    const double wt = wts_[s] * mk;
    st_.loss += wt * tl.loss;
    sumPg_ += wt * tl.pg;
    sumKl_ += mk * tl.kl;
    sumEnt_ += mk * ent;
    sumClip_ += mk * (tl.clipped ? 1 : 0);
    sumRatio_ += mk * tl.ratio;
    return {wt * tl.dLogp, wt * tl.dEntropy};
  }

  // Loss, policy-gradient loss, token counts, and the masked means of KL, entropy, clip fraction and
  // ratio (gradNorm, lr, seconds and step are the train step's).
  StepStats stats() const {
    StepStats st = st_;
    if (maskTotal_ > 0) {
      st.kl = sumKl_ / maskTotal_;
      st.entropy = sumEnt_ / maskTotal_;
      st.clipFrac = sumClip_ / maskTotal_;
      st.ratioMean = sumRatio_ / maskTotal_;
    }
    st.pgLoss = sumPg_;
    return st;
  }

 private:
  const SeqBatch& b_;
  const LossConfig* loss_;
  std::vector<double>*lpOut_, *entOut_;
  std::vector<double> wts_;
  double maskTotal_ = 0;
  StepStats st_;
  double sumKl_ = 0, sumEnt_ = 0, sumClip_ = 0, sumRatio_ = 0, sumPg_ = 0;
};

}  // namespace arclight

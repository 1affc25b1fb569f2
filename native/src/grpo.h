// Policy-gradient losses: SFT (masked cross-entropy) and GRPO (clipped ratio,
// k3 KL to a reference, entropy bonus), loss aggregation modes, and group
// advantages (GRPO z-scores or RLOO). Definitions follow TRL's GRPOTrainer and
// VERL's core_algos.
#pragma once
#include <cmath>
#include <map>
#include <stdexcept>
#include <vector>

namespace arclight {

enum class LossKind { SFT, GRPO };
enum class Aggregation { TokenMean, SeqMeanTokenMean, SeqMeanTokenSumNorm };

struct LossConfig {
  LossKind kind = LossKind::GRPO;
  double epsLow = 0.2, epsHigh = 0.2;  // ratio clipped to [1 - epsLow, 1 + epsHigh]
  double klBeta = 0.0;                 // weight of k3 KL(policy || reference); needs reference logprobs
  double entropyCoef = 0.0;            // loss -= entropyCoef * entropy
  Aggregation agg = Aggregation::TokenMean;
  double normLength = 0.0;  // seq-mean-token-sum-norm divisor; 0: longest response in the batch
};

// Per-token loss and its derivatives with respect to the token's logprob and
// the position's entropy.
struct TokenLoss {
  double loss = 0, pg = 0, kl = 0, ratio = 1, dLogp = 0, dEntropy = 0;
  bool clipped = false;
};

inline TokenLoss token_loss(const LossConfig& c, double logp, double oldLogp, bool hasRef, double refLogp,
                            double entropy, double adv) {
  TokenLoss t;
  if (c.kind == LossKind::SFT) {
    t.loss = t.pg = -logp;
    t.dLogp = -1;
  } else {
    t.ratio = std::exp(logp - oldLogp);
    const double clippedRatio = std::fmin(std::fmax(t.ratio, 1 - c.epsLow), 1 + c.epsHigh);
    const double pg1 = -adv * t.ratio, pg2 = -adv * clippedRatio;
    // max(pg1, pg2): when the clipped branch wins, its ratio is a constant and passes no gradient.
    t.clipped = pg2 > pg1;
    t.pg = t.clipped ? pg2 : pg1;
    t.dLogp = t.clipped ? 0.0 : -adv * t.ratio;
    t.loss = t.pg;
  }
  if (hasRef) {
    // k3 = exp(ref - logp) - (ref - logp) - 1 >= 0, unbiased for KL(pi || ref).
    const double d = refLogp - logp;
    t.kl = std::exp(d) - d - 1;
    if (c.klBeta != 0) {
      t.loss += c.klBeta * t.kl;
      t.dLogp += c.klBeta * (1 - std::exp(d));
    }
  }
  if (c.entropyCoef != 0) {
    t.loss -= c.entropyCoef * entropy;
    t.dEntropy = -c.entropyCoef;
  }
  return t;
}

// Aggregation weight of every token of a sequence: the batch loss is
// sum over tokens of weight * mask * token loss.
//   token-mean:               1 / (masked tokens in batch)
//   seq-mean-token-mean:      1 / (sequences with tokens * masked tokens in the sequence)
//   seq-mean-token-sum-norm:  1 / normLength (VERL / Dr. GRPO: sum of sequence sums over a constant)
inline std::vector<double> aggregation_weights(const LossConfig& c, const std::vector<double>& maskSums, int maxLen) {
  const int S = (int)maskSums.size();
  std::vector<double> w(S, 0.0);
  double total = 0;
  int seqs = 0;
  for (double m : maskSums) {
    total += m;
    if (m > 0) seqs++;
  }
  for (int s = 0; s < S; s++) {
    if (maskSums[s] <= 0) continue;
    switch (c.agg) {
      case Aggregation::TokenMean:
        w[s] = 1.0 / total;
        break;
      case Aggregation::SeqMeanTokenMean:
        w[s] = 1.0 / ((double)seqs * maskSums[s]);
        break;
      case Aggregation::SeqMeanTokenSumNorm:
        w[s] = 1.0 / (c.normLength > 0 ? c.normLength : (double)(maxLen > 0 ? maxLen : 1));
        break;
    }
  }
  return w;
}

// Group-relative advantages. rewards[i] belongs to group groups[i].
//   GRPO: (r - mean_g) / (std_g + eps) with unbiased std (torch.std), or r - mean_g when !normStd.
//   RLOO: r - mean of the other members = n/(n-1) * (r - mean_g).
inline std::vector<double> group_advantages(const std::vector<double>& rewards, const std::vector<int>& groups,
                                            bool normStd, double eps, bool rloo) {
  if (rewards.size() != groups.size()) throw std::invalid_argument("rewards and groups differ in length");
  std::map<int, std::vector<size_t>> members;
  for (size_t i = 0; i < groups.size(); i++) members[groups[i]].push_back(i);
  std::vector<double> adv(rewards.size(), 0.0);
  for (auto& [g, idx] : members) {
    const double n = (double)idx.size();
    double mean = 0;
    for (size_t i : idx) mean += rewards[i];
    mean /= n;
    double var = 0;
    for (size_t i : idx) var += (rewards[i] - mean) * (rewards[i] - mean);
    const double sd = n > 1 ? std::sqrt(var / (n - 1)) : 0.0;
    for (size_t i : idx) {
      const double centred = rewards[i] - mean;
      if (rloo)
        adv[i] = n > 1 ? centred * n / (n - 1) : 0.0;
      else
        adv[i] = normStd ? centred / (sd + eps) : centred;
    }
  }
  return adv;
}

}  // namespace arclight

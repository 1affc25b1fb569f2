// Token sampling: temperature, top-k, top-p (nucleus) over one logits row, with
// a small seeded RNG so a (seed, prompt, sample) triple always draws the same tokens.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace arclight {

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
  double normal() {  // Box-Muller; implementation-independent, unlike std::normal_distribution
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
};

// The stream of sample `s` of a call with `seed`. Seeds pass through the splitmix64 finalizer first:
// seeding splitmix64 with seed*gamma made seeds k and k+1 the same stream one draw apart, so an RL
// loop seeding step k with k drew almost the same random numbers every step.
inline uint64_t sample_stream_seed(uint64_t seed, uint64_t s) {
  auto mix = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  return mix(mix(seed + 0x9E3779B97F4A7C15ull) + s * 0xD1B54A32D192ED03ull);
}

struct SampleConfig {
  double temperature = 1.0;  // 0: greedy
  int topK = 0;              // 0: off
  double topP = 1.0;         // 1: off
};

// log softmax(z)[tok] at temperature 1, and the entropy of that distribution.
template <typename F>
void logprob_entropy_row(const F* z, int V, int tok, double* logp, double* entropy) {
  double mx = -INFINITY;
  for (int j = 0; j < V; j++) mx = std::fmax(mx, (double)z[j]);
  double sum = 0;
  for (int j = 0; j < V; j++) sum += std::exp((double)z[j] - mx);
  const double lse = mx + std::log(sum);
  if (logp) *logp = (double)z[tok] - lse;
  if (entropy) {
    double h = 0;
    for (int j = 0; j < V; j++) {
      const double lp = (double)z[j] - lse;
      h -= std::exp(lp) * lp;
    }
    *entropy = h;
  }
}

// Draws a token; *sampleLogprob gets its logprob under the distribution actually
// sampled from (after temperature, top-k, top-p), 0 for greedy.
template <typename F>
int sample_row(const F* z, int V, const SampleConfig& c, Rng& rng, double* sampleLogprob) {
  if (c.temperature <= 0) {
    int best = 0;
    for (int j = 1; j < V; j++)
      if (z[j] > z[best]) best = j;
    if (sampleLogprob) *sampleLogprob = 0;
    return best;
  }
  std::vector<int> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  int keep = V;
  const bool filter = (c.topK > 0 && c.topK < V) || c.topP < 1.0;
  if (filter) {
    // Ties broken by token id so results never depend on the sort implementation.
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return z[a] > z[b]; });
    if (c.topK > 0 && c.topK < V) keep = c.topK;
  }
  double mx = -INFINITY;
  for (int r = 0; r < keep; r++) mx = std::fmax(mx, (double)z[idx[r]] / c.temperature);
  std::vector<double> p(keep);
  double sum = 0;
  for (int r = 0; r < keep; r++) {
    p[r] = std::exp((double)z[idx[r]] / c.temperature - mx);
    sum += p[r];
  }
  for (int r = 0; r < keep; r++) p[r] /= sum;
  if (c.topP < 1.0) {
    double cum = 0;
    int k = 0;
    while (k < keep) {
      cum += p[k];
      k++;
      if (cum >= c.topP) break;
    }
    keep = k;
    double s2 = 0;
    for (int r = 0; r < keep; r++) s2 += p[r];
    for (int r = 0; r < keep; r++) p[r] /= s2;
  }
  const double u = rng.uniform();
  double cum = 0;
  int chosen = keep - 1;
  for (int r = 0; r < keep; r++) {
    cum += p[r];
    if (u < cum) {
      chosen = r;
      break;
    }
  }
  if (sampleLogprob) *sampleLogprob = std::log(p[chosen]);
  return idx[chosen];
}

}  // namespace arclight

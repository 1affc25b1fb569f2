// Model configuration shared by both families (GPT-2 and Qwen2), with checks
// that run before any buffer is sized from it.
#pragma once
#include <stdexcept>
#include <string>

namespace arclight {

struct ModelConfig {
  std::string family = "gpt2";  // "gpt2" | "qwen2"
  int layers = 2;
  int dModel = 64;
  int heads = 4;
  int kvHeads = 4;
  int vocab = 260;
  int ctx = 128;
  int ffn = 0;  // 0: 4 * dModel
  double normEps = 1e-5;
  double ropeTheta = 10000.0;
  bool tieEmbeddings = true;

  bool qwen() const { return family == "qwen2"; }
  int headDim() const { return dModel / heads; }
  int ffnDim() const { return ffn > 0 ? ffn : 4 * dModel; }
  int qkvDim() const { return (heads + 2 * kvHeads) * headDim(); }
  int kvDim() const { return kvHeads * headDim(); }

  void validate() const {
    auto bad = [](const std::string& m) { throw std::invalid_argument("model config: " + m); };
    if (family != "gpt2" && family != "qwen2") bad("family must be \"gpt2\" or \"qwen2\", got \"" + family + "\"");
    if (layers < 1 || layers > 256) bad("layers must be in [1, 256]");
    if (dModel < 2 || dModel > 16384) bad("dModel must be in [2, 16384]");
    if (heads < 1 || dModel % heads != 0) bad("heads must divide dModel");
    if (kvHeads < 1 || heads % kvHeads != 0) bad("kvHeads must divide heads");
    if (family == "gpt2" && kvHeads != heads) bad("gpt2 uses kvHeads == heads");
    if (qwen() && headDim() % 2 != 0) bad("qwen2 needs an even head dimension for RoPE");
    if (vocab < 2 || vocab > (1 << 22)) bad("vocab must be in [2, 4194304]");
    if (ctx < 2 || ctx > (1 << 20)) bad("ctx must be in [2, 1048576]");
    if (ffn < 0 || ffn > (1 << 20)) bad("ffn must be in [0, 1048576]");
    if (!(normEps > 0 && normEps < 1)) bad("normEps must be in (0, 1)");
    if (!(ropeTheta > 1)) bad("ropeTheta must be > 1");
    if (family == "gpt2" && !tieEmbeddings) bad("gpt2 always ties the head to wte");
  }
};

}  // namespace arclight

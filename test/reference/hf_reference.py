#!/usr/bin/env python3
"""Reference for Arclight's native trainer, written from the Hugging Face model
definitions (transformers' modeling_gpt2.py, modeling_qwen2.py and
modeling_llama.py) in plain PyTorch, float64, without transformers itself
(which is not installable here: no PyPI).

Commands (JSON on stdin, JSON on stdout):
  make   {models: [{dir, family, config, seed, dtype, shards}]}: writes Hugging Face model
         directories (config.json, model.safetensors or shards + index) with seeded
         random weights in the family's names and layouts.
  check  {dir, batch, grpo}: loads that directory (any HF layout this script
         writes, or one Arclight's saveHF wrote), and returns the response
         tokens' logprobs, the SFT loss and its gradients, and the GRPO loss and
         its gradients, gradients in Arclight's parameter names and layouts
         (native/src/param_names.h) so the test compares them one to one; with
         {also: [dirs]} also the logprobs of those directories (e.g. an export).
"""
import json
import math
import os
import struct
import sys

import torch

DT = torch.float64


# ---------------------------------------------------------------------------
# safetensors (the format is small enough to read and write here; the
# safetensors package is not a Debian dependency of python3-torch)

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}
_NAMES = {v: k for k, v in _DTYPES.items()}


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        buf = bytearray(data[8 + n + a : 8 + n + b])
        dt = _DTYPES[e["dtype"]]
        if dt == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(buf, dtype=dt)
        out[name] = t.reshape(e["shape"]).to(DT)
    return out


def load_dir(d):
    if os.path.exists(os.path.join(d, "model.safetensors")):
        return read_safetensors(os.path.join(d, "model.safetensors"))
    with open(os.path.join(d, "model.safetensors.index.json")) as f:
        index = json.load(f)
    out = {}
    for shard in sorted(set(index["weight_map"].values())):
        out.update(read_safetensors(os.path.join(d, shard)))
    return out


# ---------------------------------------------------------------------------
# weights in HF names


def hf_shapes(family, c):
    if family == "gpt2":
        C, F, V, T = c["n_embd"], c.get("n_inner") or 4 * c["n_embd"], c["vocab_size"], c["n_positions"]
        s = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (T, C)}
        for i in range(c["n_layer"]):
            h = f"transformer.h.{i}."
            s.update({
                h + "ln_1.weight": (C,), h + "ln_1.bias": (C,),
                h + "attn.c_attn.weight": (C, 3 * C), h + "attn.c_attn.bias": (3 * C,),
                h + "attn.c_proj.weight": (C, C), h + "attn.c_proj.bias": (C,),
                h + "ln_2.weight": (C,), h + "ln_2.bias": (C,),
                h + "mlp.c_fc.weight": (C, F), h + "mlp.c_fc.bias": (F,),
                h + "mlp.c_proj.weight": (F, C), h + "mlp.c_proj.bias": (C,),
            })
        s["transformer.ln_f.weight"] = (C,)
        s["transformer.ln_f.bias"] = (C,)
        return s
    C, F, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    H, KV = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
    D = C // H
    s = {"model.embed_tokens.weight": (V, C)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        s.update({
            p + "input_layernorm.weight": (C,),
            p + "self_attn.q_proj.weight": (H * D, C), p + "self_attn.k_proj.weight": (KV * D, C), p + "self_attn.v_proj.weight": (KV * D, C),
            p + "self_attn.o_proj.weight": (C, H * D),
            p + "post_attention_layernorm.weight": (C,),
            p + "mlp.gate_proj.weight": (F, C), p + "mlp.up_proj.weight": (F, C), p + "mlp.down_proj.weight": (C, F),
        })
        if family == "qwen2":
            s.update({p + "self_attn.q_proj.bias": (H * D,), p + "self_attn.k_proj.bias": (KV * D,), p + "self_attn.v_proj.bias": (KV * D,)})
    s["model.norm.weight"] = (C,)
    if not c.get("tie_word_embeddings", False):
        s["lm_head.weight"] = (V, C)
    return s


def make(req):
    family, c = req["family"], req["config"]
    g = torch.Generator().manual_seed(req["seed"])
    dtype = _DTYPES[req.get("dtype", "F32")]
    tensors = {}
    for name, shape in hf_shapes(family, c).items():
        if name.endswith("norm.weight") or ".ln_" in name or name.endswith("ln_f.weight"):
            t = 1.0 + 0.2 * torch.randn(shape, generator=g) if name.endswith("weight") else 0.1 * torch.randn(shape, generator=g)
        elif name.endswith(".bias"):
            t = 0.1 * torch.randn(shape, generator=g)
        else:
            t = 0.3 * torch.randn(shape, generator=g)  # large enough that logits are far from uniform
        tensors[name] = t.to(dtype)
    d = req["dir"]
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=1)
    shards = req.get("shards", 1)
    if shards <= 1:
        write_safetensors(os.path.join(d, "model.safetensors"), tensors)
        return {"ok": True}
    names = list(tensors)
    weight_map = {}
    for k in range(shards):
        fn = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[k::shards]}
        write_safetensors(os.path.join(d, fn), part)
        weight_map.update({n: fn for n in part})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    return {"ok": True}


# ---------------------------------------------------------------------------
# forward, from the HF definitions


def rms_norm(x, w, eps):  # LlamaRMSNorm / Qwen2RMSNorm
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def inv_freq(c, D):
    base = c.get("rope_theta", 10000.0)
    f = 1.0 / (base ** (torch.arange(0, D, 2, dtype=DT) / D))
    rs = c.get("rope_scaling")
    if rs:  # _compute_llama3_parameters
        factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        low_wave, high_wave = old / lo, old / hi
        wave = 2 * math.pi / f
        f_l = torch.where(wave > low_wave, f / factor, f)
        smooth = (old / wave - lo) / (hi - lo)
        smoothed = (1 - smooth) * f_l / factor + smooth * f_l
        medium = ~(wave < high_wave) * ~(wave > low_wave)
        f = torch.where(medium, smoothed, f_l)
    return f


def attention(q, k, v):  # [H, T, D] each (k, v already repeated for GQA), causal, eager_attention_forward
    T, D = q.shape[1], q.shape[2]
    s = q @ k.transpose(1, 2) / math.sqrt(D)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    s = s.masked_fill(mask, float("-inf"))
    return torch.softmax(s, -1) @ v


def forward_llama(W, c, family, ids):
    T = len(ids)
    C, H = c["hidden_size"], c["num_attention_heads"]
    KV = c.get("num_key_value_heads", H)
    D, eps = C // H, c.get("rms_norm_eps", 1e-6)
    x = W["model.embed_tokens.weight"][ids]
    pos = torch.arange(T, dtype=DT)
    freqs = pos[:, None] * inv_freq(c, D)[None, :]
    emb = torch.cat((freqs, freqs), -1)
    cos, sin = emb.cos(), emb.sin()
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)

        def lin(name, inp, bias=True):
            y = inp @ W[p + name + ".weight"].T
            b = W.get(p + name + ".bias")
            return y + b if (b is not None and bias) else y

        q = lin("self_attn.q_proj", h).view(T, H, D).transpose(0, 1)
        k = lin("self_attn.k_proj", h).view(T, KV, D).transpose(0, 1)
        v = lin("self_attn.v_proj", h).view(T, KV, D).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=0)  # repeat_kv
        v = v.repeat_interleave(H // KV, dim=0)
        a = attention(q, k, v).transpose(0, 1).reshape(T, H * D)
        x = x + a @ W[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        gate = h @ W[p + "mlp.gate_proj.weight"].T
        up = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ W[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["lm_head.weight"] if "lm_head.weight" in W and not c.get("tie_word_embeddings", False) else W["model.embed_tokens.weight"]
    return x @ head.T


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def forward_gpt2(W, c, ids):
    T, C, H = len(ids), c["n_embd"], c["n_head"]
    D, eps = C // H, c.get("layer_norm_epsilon", 1e-5)
    pre = "transformer." if "transformer.wte.weight" in W else ""
    x = W[pre + "wte.weight"][ids] + W[pre + "wpe.weight"][:T]
    ln = lambda x, n: torch.nn.functional.layer_norm(x, (C,), W[n + ".weight"], W[n + ".bias"], eps)
    conv = lambda x, n: x @ W[n + ".weight"] + W[n + ".bias"]  # Conv1D: weight [in, out]
    for i in range(c["n_layer"]):
        h = f"{pre}h.{i}."
        qkv = conv(ln(x, h + "ln_1"), h + "attn.c_attn")
        q, k, v = [t.view(T, H, D).transpose(0, 1) for t in qkv.split(C, -1)]
        a = attention(q, k, v).transpose(0, 1).reshape(T, C)
        x = x + conv(a, h + "attn.c_proj")
        x = x + conv(gelu_new(conv(ln(x, h + "ln_2"), h + "mlp.c_fc")), h + "mlp.c_proj")
    x = ln(x, pre + "ln_f")
    return x @ W[pre + "wte.weight"].T


# ---------------------------------------------------------------------------
# HF gradients -> Arclight names and layouts (native/src/param_names.h)


def to_arclight(family, c, G):
    out = {}
    if family == "gpt2":
        pre = "transformer." if "transformer.wte.weight" in G else ""
        out["wte"], out["wpe"] = G[pre + "wte.weight"], G[pre + "wpe.weight"]
        for i in range(c["n_layer"]):
            h, a = f"{pre}h.{i}.", f"h.{i}."
            out[a + "ln1.weight"], out[a + "ln1.bias"] = G[h + "ln_1.weight"], G[h + "ln_1.bias"]
            out[a + "attn.qkv.weight"], out[a + "attn.qkv.bias"] = G[h + "attn.c_attn.weight"].T, G[h + "attn.c_attn.bias"]
            out[a + "attn.proj.weight"], out[a + "attn.proj.bias"] = G[h + "attn.c_proj.weight"].T, G[h + "attn.c_proj.bias"]
            out[a + "ln2.weight"], out[a + "ln2.bias"] = G[h + "ln_2.weight"], G[h + "ln_2.bias"]
            out[a + "mlp.fc.weight"], out[a + "mlp.fc.bias"] = G[h + "mlp.c_fc.weight"].T, G[h + "mlp.c_fc.bias"]
            out[a + "mlp.proj.weight"], out[a + "mlp.proj.bias"] = G[h + "mlp.c_proj.weight"].T, G[h + "mlp.c_proj.bias"]
        out["lnf.weight"], out["lnf.bias"] = G[pre + "ln_f.weight"], G[pre + "ln_f.bias"]
        return out
    out["wte"] = G["model.embed_tokens.weight"]
    for i in range(c["num_hidden_layers"]):
        p, a = f"model.layers.{i}.", f"h.{i}."
        out[a + "ln1.weight"] = G[p + "input_layernorm.weight"]
        out[a + "attn.qkv.weight"] = torch.cat([G[p + f"self_attn.{n}_proj.weight"] for n in "qkv"], 0)
        if family == "qwen2":
            out[a + "attn.qkv.bias"] = torch.cat([G[p + f"self_attn.{n}_proj.bias"] for n in "qkv"], 0)
        out[a + "attn.proj.weight"] = G[p + "self_attn.o_proj.weight"]
        out[a + "ln2.weight"] = G[p + "post_attention_layernorm.weight"]
        out[a + "mlp.gate_up.weight"] = torch.cat([G[p + "mlp.gate_proj.weight"], G[p + "mlp.up_proj.weight"]], 0)
        out[a + "mlp.proj.weight"] = G[p + "mlp.down_proj.weight"]
    out["lnf.weight"] = G["model.norm.weight"]
    if "lm_head.weight" in G and not c.get("tie_word_embeddings", False):
        out["lm_head.weight"] = G["lm_head.weight"]
    return out


# ---------------------------------------------------------------------------
# losses (native/src/grpo.h semantics, token-mean aggregation)


def token_stats(forward, batch):
    """Per response token: logprob and entropy under the model, as lists of tensors."""
    lps, ents = [], []
    for prompt, resp in zip(batch["prompts"], batch["responses"]):
        ids = prompt + resp
        logits = forward(torch.tensor(ids))
        logp = torch.log_softmax(logits, -1)
        P = len(prompt)
        for t in range(len(resp)):
            row = logp[P - 1 + t]
            lps.append(row[resp[t]])
            ents.append(-(row.exp() * row).sum())
    return lps, ents


def grpo_loss(lps, ents, batch, g):
    adv_per_tok, i = [], 0
    for s, resp in enumerate(batch["responses"]):
        adv_per_tok += [g["advantages"][s]] * len(resp)
    total = 0
    for t, (lp, ent) in enumerate(zip(lps, ents)):
        old, ref, a = g["oldLogprobs"][t], g["refLogprobs"][t], adv_per_tok[t]
        ratio = torch.exp(lp - old)
        pg = torch.maximum(-a * ratio, -a * torch.clamp(ratio, 1 - g["clipLow"], 1 + g["clipHigh"]))
        d = ref - lp
        kl = torch.exp(d) - d - 1
        total = total + pg + g["klBeta"] * kl - g["entropyCoef"] * ent
    return total / len(lps)


def check(req):
    d = req["dir"]
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    family = c.get("model_type")
    W = load_dir(d)
    for t in W.values():
        t.requires_grad_(True)
    forward = (lambda ids: forward_gpt2(W, c, ids)) if family == "gpt2" else (lambda ids: forward_llama(W, c, family, ids))
    batch = req["batch"]
    out = {}
    lps, ents = token_stats(forward, batch)
    out["logprobs"] = [float(x) for x in lps]
    out["entropy"] = [float(x) for x in ents]

    def grads_of(loss):
        for t in W.values():
            t.grad = None
        loss.backward()
        G = {k: (t.grad if t.grad is not None else torch.zeros_like(t)) for k, t in W.items()}
        return {k: v.reshape(-1).tolist() for k, v in to_arclight(family, c, G).items()}

    sft = -sum(lps) / len(lps)
    out["sft"] = {"loss": float(sft), "grads": grads_of(sft)}
    if req.get("grpo"):
        lps, ents = token_stats(forward, batch)
        loss = grpo_loss(lps, ents, batch, req["grpo"])
        out["grpo"] = {"loss": float(loss), "grads": grads_of(loss)}
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)
    req = json.load(sys.stdin)
    cmd = req.get("cmd")
    # "make" takes a list of model requests and "check" a list of extra directories ("also"),
    # so a test pays for one interpreter start (importing torch) per family, not one per call.
    if cmd == "make":
        res = [make(r) for r in req["models"]]
    elif cmd == "check":
        res = check(req)
        res["also"] = [check({"dir": d, "batch": req["batch"]})["logprobs"] for d in req.get("also", [])]
    else:
        raise SystemExit(f"unknown cmd {cmd!r}")
    json.dump(res, sys.stdout)

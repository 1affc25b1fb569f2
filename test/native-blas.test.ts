// The tuned-BLAS path of the fp32 matmuls (native/src/blas.cpp, dlopen of OpenBLAS/BLIS) against
// Arclight's own kernel, which stays the fallback and the reference: forward, input gradient,
// weight gradient (one real GEMM) and bias gradient agree to fp32 precision, and a training
// step gives the same numbers either way. Skips the BLAS-only checks when none is installed
// (scripts/ensure-blas.sh installs Debian's OpenBLAS).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Policy, loadAddon } from "../src/native/index.js";

const addon = loadAddon();
const info = addon.backends();
const noBlas = info.blasLoaded ? undefined : `skipped: no BLAS loaded (${info.blasReason})`;

test("backends() says which BLAS the matmuls use, or why none", () => {
  if (info.blasLoaded) assert.ok(info.blasLibrary.length > 0);
  else assert.match(info.blasReason, /ARCLIGHT_BLAS|no BLAS library found|could not be loaded/);
});

test("BLAS matmul forward and backward equal the own kernel on random shapes", { skip: noBlas }, () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 96 }),
      fc.integer({ min: 1, max: 160 }),
      fc.integer({ min: 1, max: 160 }),
      fc.nat(1000),
      (n, c, oc, seed) => {
        const r = addon.matmulParity({ n, c, oc, seed });
        for (const k of ["forward", "dinp", "dweight", "dbias"] as const) assert.ok(r[k] < 1e-5, `${n}x${c}x${oc} ${k}: ${r[k]}`);
      },
    ),
    { numRuns: 40 },
  );
  // a shape big enough that the BLAS path is taken
  const big = addon.matmulParity({ n: 64, c: 128, oc: 96, seed: 7 });
  assert.equal(big.blas, true);
  for (const k of ["forward", "dinp", "dweight", "dbias"] as const) assert.ok(big[k] < 1e-5, `${k}: ${big[k]}`);
});

test("a training step with the BLAS and with the own kernel gives the same losses and logprobs", {
  skip: noBlas,
  timeout: 60_000,
}, async () => {
  const cfg = {
    family: "llama" as const,
    layers: 2,
    dModel: 64,
    heads: 4,
    kvHeads: 2,
    vocab: 64,
    ctx: 64,
    seed: 3,
    device: "cpu" as const,
  };
  const batch = {
    prompts: [Array.from({ length: 20 }, (_, i) => i % 64)],
    responses: [Array.from({ length: 30 }, (_, i) => (i * 7) % 64)],
  };
  const run = async (blas: boolean) => {
    addon.setBlas(blas);
    try {
      const p = await Policy.create(cfg);
      const s = await p.trainStep(batch, { loss: "sft", lr: 1e-2 });
      const lp = (await p.logprobs(batch)).logprobs.flat();
      await p.dispose();
      return { loss: s.loss, gradNorm: s.gradNorm, lp };
    } finally {
      addon.setBlas(true);
    }
  };
  const own = await run(false),
    blas = await run(true);
  assert.ok(Math.abs(own.loss - blas.loss) < 1e-5 * Math.abs(own.loss));
  assert.ok(Math.abs(own.gradNorm - blas.gradNorm) < 1e-4 * own.gradNorm);
  for (let i = 0; i < own.lp.length; i++) assert.ok(Math.abs(own.lp[i] - blas.lp[i]) < 1e-4, `logprob ${i}`);
});

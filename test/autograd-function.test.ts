import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  aten,
  autocast,
  AutogradFunction,
  cat,
  checkpoint,
  functional as F,
  grad,
  manualSeed,
  memory,
  randn,
  tensor,
  tidy,
  zeros,
  type FunctionCtx,
  type Tensor,
} from 'finetune';

import { assertGradcheck } from './helpers/gradcheck.js';

const f64 = { dtype: 'float64' } as const;

/** exp with the output saved for backward (torch's documented example). */
class Exp extends AutogradFunction {
  static forward(ctx: FunctionCtx, x: Tensor): Tensor {
    const y = x.exp();
    ctx.saveForBackward(y);
    return y;
  }
  static backward(ctx: FunctionCtx, gradY: Tensor): Tensor {
    return gradY.mul(ctx.savedTensors[0]);
  }
}

/** Two outputs, a number argument, and an input that may need no gradient. */
class ScaledProducts extends AutogradFunction {
  static forward(ctx: FunctionCtx, x: Tensor, scale: number, y: Tensor): Tensor[] {
    ctx.scale = scale;
    ctx.saveForBackward(x, y);
    return [x.mul(y).mul(scale), x.sin()];
  }
  static backward(ctx: FunctionCtx, gradProduct: Tensor, gradSin: Tensor): (Tensor | null)[] {
    const [x, y] = ctx.savedTensors;
    const scale = ctx.scale as number;
    const gradX = gradProduct.mul(y).mul(scale).add(gradSin.mul(x.cos()));
    return [gradX, null, ctx.needsInputGrad[2] ? gradProduct.mul(x).mul(scale) : null];
  }
}

/** Rows of x picked by an int64 index: the index is a tensor input with no gradient. */
class Gather extends AutogradFunction {
  static forward(ctx: FunctionCtx, x: Tensor, index: Tensor): Tensor {
    ctx.rows = x.shape[0];
    ctx.saveForBackward(index);
    return x.indexSelect(0, index);
  }
  static backward(ctx: FunctionCtx, gradOut: Tensor): (Tensor | null)[] {
    const [index] = ctx.savedTensors;
    const gradX = aten.index_add(
      zeros([ctx.rows as number, ...gradOut.shape.slice(1)], { dtype: gradOut.dtype }),
      0,
      index,
      gradOut,
    );
    return [gradX, null];
  }
}

describe('AutogradFunction', () => {
  test('exp: analytic gradients match finite differences', () => {
    manualSeed(1);
    tidy(() => assertGradcheck((x) => Exp.apply(x), [randn([3, 4], f64).requiresGrad_()]));
  });

  test('two outputs, a non-tensor argument, inputs with and without requiresGrad', () => {
    manualSeed(2);
    tidy(() => {
      const both = (x: Tensor, y: Tensor): Tensor => cat(ScaledProducts.apply(x, 1.5, y).map((t) => t.flatten()));
      assertGradcheck(both, [randn([2, 3], f64).requiresGrad_(), randn([2, 3], f64).requiresGrad_()]);
      // y constant: needsInputGrad[2] is false and backward returns null for it
      assertGradcheck(both, [randn([2, 3], f64).requiresGrad_(), randn([2, 3], f64)]);
      // only the second output used: the first one's gradient arrives as zeros
      const x = randn([4], f64).requiresGrad_();
      ScaledProducts.apply(x, 2, randn([4], f64))[1]
        .sum()
        .backward();
      assert.deepEqual(Array.from(x.grad!.data() as Float64Array), Array.from(x.detach().cos().data() as Float64Array));
    });
  });

  test('an integer index input gets no gradient, repeated rows accumulate', () => {
    manualSeed(3);
    tidy(() => {
      const index = tensor([2, 0, 2], { dtype: 'int64' });
      assertGradcheck((x) => Gather.apply(x, index), [randn([3, 2], f64).requiresGrad_()]);
      const x = randn([3, 2], f64).requiresGrad_();
      Gather.apply(x, index).sum().backward();
      assert.deepEqual(Array.from(x.grad!.data() as Float64Array), [1, 1, 0, 0, 2, 2]);
    });
  });

  test('needsInputGrad and grad mode: a Function under noGrad records nothing', () => {
    tidy(() => {
      let seen: readonly boolean[] = [];
      class Probe extends AutogradFunction {
        static forward(ctx: FunctionCtx, a: Tensor, b: Tensor): Tensor {
          seen = ctx.needsInputGrad;
          return a.add(b);
        }
        static backward(_ctx: FunctionCtx, g: Tensor): Tensor[] {
          return [g, g];
        }
      }
      const out = Probe.apply(randn([2]).requiresGrad_(), randn([2]));
      assert.deepEqual(seen, [true, false]);
      assert.equal(out.requiresGrad, true);
    });
  });

  test('backward runs synchronously inside backward(), on the JavaScript thread', () => {
    tidy(() => {
      const calls: string[] = [];
      class Traced extends AutogradFunction {
        static forward(_ctx: FunctionCtx, x: Tensor): Tensor {
          calls.push('forward');
          return x.mul(2);
        }
        static backward(_ctx: FunctionCtx, g: Tensor): Tensor {
          calls.push('backward');
          return g.mul(2);
        }
      }
      const x = randn([3]).requiresGrad_();
      const y = Traced.apply(x).sum();
      calls.push('before');
      y.backward();
      calls.push('after');
      assert.deepEqual(calls, ['forward', 'before', 'backward', 'after']);
      assert.deepEqual(Array.from(x.grad!.data() as Float32Array), [2, 2, 2]);
    });
  });

  test('an error thrown in backward comes out of backward() as that Error, and the engine still works', () => {
    class Failing extends AutogradFunction {
      static forward(_ctx: FunctionCtx, x: Tensor): Tensor {
        return x.mul(3);
      }
      static backward(): Tensor {
        throw new RangeError('backward failed on purpose');
      }
    }
    const before = memory().numTensors;
    tidy(() => {
      const x = randn([2]).requiresGrad_();
      assert.throws(() => Failing.apply(x).sum().backward(), {
        name: 'RangeError',
        message: 'backward failed on purpose',
      });
      assert.throws(() => grad(Failing.apply(x).sum(), x), /backward failed on purpose/);
      Exp.apply(x).sum().backward();
      assert.ok(x.grad);
    });
    assert.equal(memory().numTensors, before);
  });

  test('backward returning the wrong number of gradients is a clear error', () => {
    class TooFew extends AutogradFunction {
      static forward(_ctx: FunctionCtx, x: Tensor, y: Tensor): Tensor {
        return x.add(y);
      }
      static backward(_ctx: FunctionCtx, g: Tensor): Tensor {
        return g;
      }
    }
    tidy(() => {
      const x = randn([2]).requiresGrad_();
      assert.throws(
        () =>
          TooFew.apply(x, randn([2]))
            .sum()
            .backward(),
        /TooFew\.backward returned 1 gradient\(s\) but forward took 2 argument\(s\)/,
      );
    });
  });

  test('no tensors leak through forward, backward and saved tensors', () => {
    const x = randn([5], f64).requiresGrad_();
    const before = memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tidy(() => {
        const [a, b] = ScaledProducts.apply(x, 0.5, Exp.apply(x));
        a.add(b).sum().backward();
      });
    }
    x.grad = null;
    assert.equal(memory().numTensors, before);
    x.dispose();
  });
});

describe('checkpoint', () => {
  const block = (x: Tensor, w: Tensor, mask: Tensor | null): Tensor => {
    const h = F.dropout(x.matmul(w).tanh(), 0.3, true);
    return mask ? h.mul(mask) : h;
  };

  test('gradients equal the plain run, with dropout recomputed under the same random state', () => {
    tidy(() => {
      const x = randn([4, 6], f64).requiresGrad_();
      const w = randn([6, 6], f64).requiresGrad_();
      const mask = tensor([1, 0, 1, 1, 1, 0], f64);
      const run = (checkpointed: boolean, preserveRngState = true): Float64Array[] => {
        manualSeed(7);
        const out = checkpointed ? checkpoint(block, [x, w, mask], { preserveRngState }) : block(x, w, mask);
        out.pow(2).sum().backward();
        const grads = [x.grad!.data() as Float64Array, w.grad!.data() as Float64Array];
        x.grad = null;
        w.grad = null;
        return grads;
      };
      const plain = run(false);
      const checkpointed = run(true);
      assert.deepEqual(checkpointed, plain);
      // the restored generator is what makes them equal: without it the recomputed masks differ
      assert.notDeepEqual(run(true, false), plain);
      // after a checkpointed step the generator continues as after a plain one
      manualSeed(7);
      checkpoint(block, [x, w, mask]).sum().backward();
      const afterCheckpoint = randn([3]).data();
      manualSeed(7);
      block(x, w, mask).sum().backward();
      assert.deepEqual(randn([3]).data(), afterCheckpoint);
    });
  });

  test('the recomputation runs under the autocast state of forward, even when backward runs outside it', () => {
    tidy(() => {
      const x = randn([4, 8]).requiresGrad_();
      const w = randn([8, 8]).requiresGrad_();
      const layer = (input: Tensor, weight: Tensor): Tensor => input.matmul(weight).relu();
      const gradients = (checkpointed: boolean): Float32Array[] => {
        const out = autocast(() => (checkpointed ? checkpoint(layer, [x, w]) : layer(x, w)));
        assert.equal(out.dtype, 'bfloat16');
        out.float().sum().backward();
        const grads = [x.grad!.data() as Float32Array, w.grad!.data() as Float32Array];
        x.grad = null;
        w.grad = null;
        return grads;
      };
      assert.deepEqual(gradients(true), gradients(false));
    });
  });

  test('gradcheck through a checkpointed function', () => {
    manualSeed(4);
    tidy(() => {
      const fn = (x: Tensor, w: Tensor): Tensor => x.matmul(w).tanh().mul(x.sum());
      assertGradcheck(
        (x, w) => checkpoint(fn, [x, w]),
        [randn([2, 3], f64).requiresGrad_(), randn([3, 3], f64).requiresGrad_()],
      );
    });
  });

  test('parameters get gradients when no argument requires grad (the frozen-input case)', () => {
    tidy(() => {
      const x = randn([4, 6], f64);
      const w = randn([6, 6], f64).requiresGrad_();
      const layer = (input: Tensor): Tensor => input.matmul(w).tanh();
      layer(x).sum().backward();
      const expected = w.grad!.data();
      w.grad = null;
      // without the parameters the output needs no gradient, as in PyTorch's reentrant checkpoint
      assert.equal(checkpoint(layer, [x]).requiresGrad, false);
      checkpoint(layer, [x], { parameters: [w] })
        .sum()
        .backward();
      assert.deepEqual(w.grad!.data(), expected);
    });
  });
});

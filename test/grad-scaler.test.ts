// GradScaler: loss scaling for float16 training, with torch.amp.GradScaler's rules (unscale,
// skip the step on inf/NaN, back off, grow after growthInterval clean steps).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { amp, memory, noGrad, optim, tensor, tidy } from 'finetune';

test('GradScaler: scales the loss, unscales grads, skips inf steps, backs off and grows the scale', () => {
  const before = memory().numTensors;
  const w = tensor([1, 2]).requiresGrad_();
  const sgd = new optim.SGD([w], { lr: 0.5 });
  const scaler = new amp.GradScaler({ initScale: 4, growthInterval: 2 });
  const iterate = (factor: number) =>
    tidy(() => {
      sgd.zeroGrad();
      const loss = w.mul(tensor([factor, factor])).sum();
      const scaled = scaler.scale(loss);
      assert.equal(scaled.item(), (loss.item() as number) * scaler.getScale());
      scaled.backward();
      const stepped = scaler.step(sgd);
      scaler.update();
      return stepped;
    });
  assert.equal(iterate(1), true);
  assert.deepEqual(w.toArray(), [0.5, 1.5], 'grads were unscaled before the step');
  assert.equal(scaler.getScale(), 4);
  assert.equal(iterate(1), true);
  assert.equal(scaler.getScale(), 8, 'grows after growthInterval clean steps');
  assert.equal(iterate(Infinity), false, 'inf gradients skip the step');
  assert.deepEqual(w.toArray(), [0, 1], 'and leave the parameters alone');
  assert.equal(scaler.getScale(), 4, 'backs off by backoffFactor');
  assert.deepEqual(scaler.stateDict(), {
    scale: 4,
    growth_factor: 2,
    backoff_factor: 0.5,
    growth_interval: 2,
    _growth_tracker: 0,
  });
  tidy(() => {
    sgd.zeroGrad();
    scaler.scale(w.sum()).backward();
    scaler.unscale_(sgd);
    assert.deepEqual(w.grad!.toArray(), [1, 1]);
    assert.throws(() => scaler.unscale_(sgd), /already been called/);
    scaler.step(sgd);
    scaler.update();
  });
  const disabled = new amp.GradScaler({ enabled: false });
  tidy(() => assert.equal(disabled.scale(tensor(3)).item(), 3));
  assert.throws(() => new amp.GradScaler({ backoffFactor: 2 }), /backoffFactor should be in \(0, 1\)/);
  scaler.dispose();
  disabled.dispose();
  sgd.zeroGrad();
  noGrad(() => w.dispose());
  sgd.dispose();
  assert.equal(memory().numTensors, before);
});

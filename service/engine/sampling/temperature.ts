// temperature: divides logits by T (> 0), flattening (T > 1) or sharpening (T < 1) the distribution.
// T = 0 never reaches a processor: the sampler takes the argmax instead.
import type { LogitsProcessor } from './logits-processor';

export class TemperatureProcessor implements LogitsProcessor {
  readonly name = 'temperature';
  private readonly inverse: number;

  constructor(temperature: number) {
    if (!(temperature > 0)) throw new RangeError(`temperature must be > 0 here (got ${temperature}); 0 means greedy`);
    this.inverse = 1 / temperature;
  }

  process(logits: Float32Array): void {
    for (let i = 0; i < logits.length; i++) logits[i] = logits[i]! * this.inverse;
  }
}

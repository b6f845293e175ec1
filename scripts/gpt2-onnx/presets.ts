// The GPT-2 shapes `model:make` can write: `tiny` for tests, and every member of the GPT-2 family
// (their config.json shapes, from service/models/footprint.ts) for benchmarks and sizing.
import { GPT2_FAMILY } from '../../service/models/footprint';

export interface Gpt2Shape {
  readonly nLayer: number;
  readonly nHead: number;
  readonly nEmbd: number;
  readonly nPositions: number;
  readonly vocabSize: number;
  /** Standard deviation of the random weights; 0.3 rather than GPT-2's 0.02 so greedy output varies. */
  readonly initStd: number;
  /** How the linear layers' weights are drawn. @default 'fixed' */
  readonly weightInit?: WeightInit;
}

/**
 * `fixed`: every weight at `initStd`. `fan-in`: the linear layers at 1/sqrt(fan_in), so that, as in a
 * trained model, a layer's output is on its input's scale and an error made early is not amplified by
 * every later layer (the embeddings stay at `initStd`, which keeps the next-token distributions peaked).
 */
export type WeightInit = 'fixed' | 'fan-in';
export const WEIGHT_INITS: readonly WeightInit[] = ['fixed', 'fan-in'];

const INIT_STD = 0.3;

export const PRESETS = {
  tiny: { nLayer: 2, nHead: 4, nEmbd: 64, nPositions: 1024, vocabSize: 50257, initStd: INIT_STD },
  distilgpt2: { ...GPT2_FAMILY.distilgpt2, initStd: INIT_STD },
  gpt2: { ...GPT2_FAMILY.gpt2, initStd: INIT_STD },
  'gpt2-medium': { ...GPT2_FAMILY['gpt2-medium'], initStd: INIT_STD },
  'gpt2-large': { ...GPT2_FAMILY['gpt2-large'], initStd: INIT_STD },
  'gpt2-xl': { ...GPT2_FAMILY['gpt2-xl'], initStd: INIT_STD },
} as const satisfies Record<string, Gpt2Shape>;

export type PresetName = keyof typeof PRESETS;

export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** GPT-2's `<|endoftext|>`: both BOS and EOS. */
export const END_OF_TEXT_ID = 50256;

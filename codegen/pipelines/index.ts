/** The pipelines prism can generate, by name. */
import type { Pipeline } from '../ir.js';
import { l3Pipeline } from './l3.js';
import { prismPipeline } from './prism.js';

export const PIPELINES: Readonly<Record<string, Pipeline>> = {
  prism: prismPipeline,
  l3: l3Pipeline,
};

export { l3Pipeline, prismPipeline };

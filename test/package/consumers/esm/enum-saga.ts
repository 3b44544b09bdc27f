// A TypeScript module Node cannot load by itself: Node 20 knows no `.ts`, newer Nodes strip types but
// refuse an `enum`. Without tsx installed, `xsaga graph` must say what to do.
import { defineSaga } from 'xsaga';
import { z } from 'zod';

enum Step {
  Reserve = 'reserve',
}

export const reserve = defineSaga({
  name: 'reserve',
  version: 1,
  input: z.object({}),
  steps: [{ name: Step.Reserve, compensate: true }],
});

/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time grouped by package / source
 * folder, top functions by self time, and the project's own functions (src/, bench/) by inclusive
 * time (self + callees, each sample counted once per function even under recursion).
 *
 *   npx tsx bench/tools/cpuprofile-top.ts <file.cpuprofile> [top=25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: cpuprofile-top.ts <file.cpuprofile> [top]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map<number, number>();
for (const [i, id] of profile.samples.entries()) {
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

/** Where a frame's code lives: a package name, a repo folder, or a V8/Node bucket. */
function area(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] as string;
  if (url.startsWith('node:')) return 'node:internal';
  const repo = /\/(src\/[^/]+|bench\/[^/]+|examples\/[^/]+)\//.exec(url);
  return repo ? (repo[1] as string) : url;
}

const fns = new Map<string, number>();
const areas = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id);
  if (!node) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? `${url.replace(/^.*\/(node_modules|src|bench)\//, '$1/')}:${lineNumber + 1}` : '';
  const key = `${functionName || '(anonymous)'} ${where}`.trim();
  fns.set(key, (fns.get(key) ?? 0) + us);
  const a = area(url, functionName);
  areas.set(a, (areas.get(a) ?? 0) + us);
}
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
console.log(`total sampled ${(total / 1e6).toFixed(2)} s`);
console.log('\nself time by area:');
for (const [name, us] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${pct(us)}  ${name}`);
console.log('\ntop functions by self time:');
for (const [name, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 25))) {
  console.log(`${pct(us)}  ${name}`);
}

// Inclusive time of the project's functions: walk every root-to-node path once.
const inclusive = new Map<string, number>();
const keyOf = (node: ProfileNode) => {
  const { functionName, url } = node.callFrame;
  return /\/(src|bench)\//.test(url)
    ? `${functionName || '(anonymous)'} ${url.replace(/^.*\/(src|bench)\//, '$1/')}`
    : undefined;
};
const subtotal = new Map<number, number>();
const sumSubtree = (id: number): number => {
  const cached = subtotal.get(id);
  if (cached !== undefined) return cached;
  const node = byId.get(id);
  let sum = selfUs.get(id) ?? 0;
  for (const child of node?.children ?? []) sum += sumSubtree(child);
  subtotal.set(id, sum);
  return sum;
};
const root = profile.nodes[0];
const walk = (id: number, open: Set<string>) => {
  const node = byId.get(id);
  if (!node) return;
  const key = keyOf(node);
  const fresh = key !== undefined && !open.has(key);
  if (fresh) {
    inclusive.set(key, (inclusive.get(key) ?? 0) + sumSubtree(id));
    open.add(key);
  }
  for (const child of node.children ?? []) walk(child, open);
  if (fresh) open.delete(key);
};
if (root) walk(root.id, new Set());
console.log('\nproject functions by inclusive time:');
for (const [name, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 25))) {
  console.log(`${pct(us)}  ${name}`);
}

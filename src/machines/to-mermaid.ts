import type { AnyStateMachine, AnyStateNode } from 'xstate';

/** One transition of a state node, as XState formats it (targets are resolved `StateNode`s). */
type Transition = NonNullable<AnyStateNode['always']>[number];

/** Words Mermaid's state-diagram grammar reserves; a state id must not be one of them. */
const RESERVED_IDS = new Set(['state', 'note', 'end', 'as', 'direction', 'class', 'classDef', 'style', 'click']);

const INDENT = '  ';

/**
 * Renders a machine as a Mermaid `stateDiagram-v2`.
 *
 * Compound states (a saga's `Pending` and `Compensating`) become composite states with an
 * `[*] -->` initial marker; final states get a `--> [*]` marker in their own scope. Each transition
 * with a target is one edge labelled with its event type, plus `[guarded]` (or the guard's name,
 * when it has one) if a guard decides it. Eventless transitions are labelled `always`, delayed ones
 * `after <delay>`. Transitions without a target change no state and are left out.
 *
 * Mermaid ids are global and only safely allow letters, digits and `_`, so each state gets an id
 * built from its path (`Pending_reserve_flight`), made unique with a numeric suffix when two paths
 * sanitize alike; the original key is kept as the state's label. Edges are written in the innermost
 * composite that holds both ends, after every state is declared, so no state is created in the
 * wrong composite. Pure: same machine in, same text out.
 *
 * @example
 * ```ts
 * const diagram = toMermaid(buildSagaMachine(trip));
 * // stateDiagram-v2
 * //   Started
 * //   state Pending {
 * //     state "reserveFlight" as Pending_reserveFlight
 * //   ...
 * ```
 */
export function toMermaid(machine: AnyStateMachine): string {
  const ids = assignIds(machine.root);
  const edges = collectEdges(machine.root, ids);
  const lines = ['stateDiagram-v2', ...renderScope(machine.root, ids, edges, 1)];
  const rootEdges = edges.get(machine.root);
  if (rootEdges?.orphans.length) lines.push(...rootEdges.orphans);
  return `${lines.join('\n')}\n`;
}

/** Edges to write in one scope, plus comments for transitions a diagram cannot draw. */
interface ScopeEdges {
  lines: string[];
  orphans: string[];
}

function childrenOf(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states);
}

/** Gives every state node (but the root) a unique Mermaid id, in document order. */
function assignIds(root: AnyStateNode): Map<AnyStateNode, string> {
  const ids = new Map<AnyStateNode, string>();
  const used = new Set<string>();
  const visit = (node: AnyStateNode, prefix: string) => {
    for (const child of childrenOf(node)) {
      const base = `${prefix}${sanitize(child.key)}`;
      let id = base;
      for (let n = 2; used.has(id) || RESERVED_IDS.has(id); n++) id = `${base}_${n}`;
      used.add(id);
      ids.set(child, id);
      visit(child, `${id}_`);
    }
  };
  visit(root, '');
  return ids;
}

function sanitize(key: string): string {
  const id = key.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(id) ? id : `_${id}`;
}

/** Free text for a label: Mermaid ends a label at a newline and treats `:`/`;` specially. */
function labelText(text: string): string {
  return text.replace(/[\r\n:;"]+/g, ' ').trim();
}

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...childrenOf(node).flatMap(allNodes)];
}

/** Groups the edges of every transition by the scope (composite state or root) they are written in. */
function collectEdges(root: AnyStateNode, ids: Map<AnyStateNode, string>): Map<AnyStateNode, ScopeEdges> {
  const byScope = new Map<AnyStateNode, ScopeEdges>();
  const scopeOf = (node: AnyStateNode) => {
    let edges = byScope.get(node);
    if (!edges) {
      edges = { lines: [], orphans: [] };
      byScope.set(node, edges);
    }
    return edges;
  };
  for (const source of allNodes(root)) {
    const transitions: Transition[] = [...source.transitions.values()].flat();
    for (const transition of [...transitions, ...(source.always ?? [])]) {
      const label = transitionLabel(transition);
      for (const target of transition.target ?? []) {
        const from = ids.get(source);
        const to = ids.get(target);
        if (from === undefined || to === undefined) {
          // A transition on the root (or into it) has no state box to attach to.
          scopeOf(root).orphans.push(`%% ${source.id} --> ${target.id} : ${label}`);
          continue;
        }
        const edges = scopeOf(commonScope(root, source, target)).lines;
        const line = `${from} --> ${to} : ${label}`;
        if (!edges.includes(line)) edges.push(line);
      }
    }
  }
  return byScope;
}

/** The innermost non-parallel node that is a proper ancestor of both `a` and `b`. */
function commonScope(root: AnyStateNode, a: AnyStateNode, b: AnyStateNode): AnyStateNode {
  let depth = 0;
  const max = Math.min(a.path.length - 1, b.path.length - 1);
  while (depth < max && a.path[depth] === b.path[depth]) depth++;
  let scope = root;
  for (const key of a.path.slice(0, depth)) scope = scope.states[key] as AnyStateNode;
  while (scope.type === 'parallel' && scope.parent) scope = scope.parent;
  return scope;
}

function transitionLabel(transition: Transition): string {
  const delay = (transition as { delay?: unknown }).delay;
  const event =
    delay !== undefined
      ? `after ${typeof delay === 'number' ? `${delay}ms` : typeof delay === 'string' ? delay : 'delay'}`
      : transition.eventType === ''
        ? 'always'
        : transition.eventType;
  const guard = transition.guard === undefined ? '' : ` [${guardName(transition.guard)}]`;
  return labelText(`${event}${guard}`);
}

function guardName(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && guard !== null && typeof (guard as { type?: unknown }).type === 'string') {
    return (guard as { type: string }).type;
  }
  return 'guarded';
}

/** Declarations, initial marker, edges and final markers of the children of `node`. */
function renderScope(
  node: AnyStateNode,
  ids: Map<AnyStateNode, string>,
  edges: Map<AnyStateNode, ScopeEdges>,
  depth: number,
): string[] {
  const pad = INDENT.repeat(depth);
  const children = childrenOf(node);
  const lines: string[] = [];
  children.forEach((child, index) => {
    if (node.type === 'parallel' && index > 0) lines.push(`${pad}--`);
    lines.push(...renderState(child, ids, edges, depth));
  });
  if (node.type !== 'parallel') {
    for (const target of node.initial?.target ?? []) lines.push(`${pad}[*] --> ${ids.get(target)}`);
  }
  for (const line of edges.get(node)?.lines ?? []) lines.push(`${pad}${line}`);
  for (const child of children) if (child.type === 'final') lines.push(`${pad}${ids.get(child)} --> [*]`);
  return lines;
}

function renderState(
  node: AnyStateNode,
  ids: Map<AnyStateNode, string>,
  edges: Map<AnyStateNode, ScopeEdges>,
  depth: number,
): string[] {
  const pad = INDENT.repeat(depth);
  const id = ids.get(node) as string;
  // Tags (a saga step's kind: pivot, query, ...) follow the key, so the diagram shows them.
  const tags = node.tags.length > 0 ? ` [${node.tags.join(', ')}]` : '';
  const label = node.type === 'history' ? (node.history === 'deep' ? 'H*' : 'H') : labelText(`${node.key}${tags}`);
  if (childrenOf(node).length === 0) {
    return [id === label ? `${pad}${id}` : `${pad}state "${label}" as ${id}`];
  }
  return [
    ...(id === label ? [] : [`${pad}${id} : ${label}`]),
    `${pad}state ${id} {`,
    ...renderScope(node, ids, edges, depth + 1),
    `${pad}}`,
  ];
}

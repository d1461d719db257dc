import assert from 'node:assert/strict';
import type { AnyStateMachine } from 'xstate';
import { statechartOf } from '../../../src/infra/http/statechart.ts';
import { controlsMachine } from '../../../src/machines/controls.machine.ts';
import { positionMachine } from '../../../src/machines/position.machine.ts';
import { priceFeedMachine } from '../../../src/machines/price-feed.machine.ts';
import { supervisorMachine } from '../../../src/machines/supervisor.machine.ts';
import { userMachine } from '../../../src/machines/user.machine.ts';
import { withdrawalMachine } from '../../../src/machines/withdrawal.machine.ts';

/** Every state path of a machine's config, read independently of the chart (the config as written). */
function configStates(config: { id?: string; states?: Record<string, unknown> }, prefix: string): string[] {
  const out = [prefix];
  for (const [key, child] of Object.entries(config.states ?? {})) out.push(...configStates(child as { states?: Record<string, unknown> }, `${prefix}.${key}`));
  return out;
}

const MACHINES: [string, AnyStateMachine][] = [
  ['supervisor', supervisorMachine],
  ['user', userMachine],
  ['position', positionMachine],
  ['price feed', priceFeedMachine],
  ['trading controls', controlsMachine],
  ['withdrawal', withdrawalMachine],
];

describe('infra/http/statechart: every machine kind charted from its own definition', () => {
  for (const [name, machine] of MACHINES) {
    it(`${name}: every state of the definition, initial states, and transitions between known states`, () => {
      const chart = statechartOf(machine);
      const ids = new Set(chart.nodes.map((n) => n.id));
      assert.deepEqual([...ids].sort(), configStates(machine.config as { states?: Record<string, unknown> }, machine.id).sort());
      assert.equal(chart.root, machine.id);
      for (const node of chart.nodes) {
        if (node.type === 'compound') assert.ok(node.initial !== null && node.children.includes(node.initial), `${node.id} starts in one of its children`);
        for (const child of node.children) assert.equal(chart.nodes.find((n) => n.id === child)?.parent, node.id);
      }
      assert.ok(chart.edges.length > 0, 'it has transitions');
      for (const edge of chart.edges) {
        assert.ok(ids.has(edge.source), edge.id);
        for (const target of edge.targets) assert.ok(ids.has(target), `${edge.id} → ${target}`);
      }
      assert.equal(new Set(chart.edges.map((e) => e.id)).size, chart.edges.length, 'edge ids are unique');
    });
  }

  it('names guards, actions and invoked effects as setup() does, and marks final states', () => {
    const chart = statechartOf(positionMachine);
    const retry = chart.edges.find((e) => e.source === 'position.submitting' && e.targets.includes('position.retryingSubmit'));
    assert.equal(retry?.guard, 'isRetryableFailure');
    assert.deepEqual(chart.nodes.find((n) => n.id === 'position.submitting')?.invoke, ['submitOpen']);
    assert.ok(chart.nodes.some((n) => n.type === 'final'), 'a position ends');
    assert.ok(chart.edges.some((e) => e.actions.includes('notifyOwner')));
  });
});

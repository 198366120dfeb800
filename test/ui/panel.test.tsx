/**
 * Panel borders across a focus change. ink 6.8 re-applies a changed
 * borderStyle to every edge and forgets borderTop={false}, which used to
 * leave a blank first row inside a panel once its focus changed (seen in
 * tmux after Tab); the panel's box is remounted on focus changes instead.
 */
import { Text, useInput } from 'ink';
import { useState } from 'react';
import { describe, expect, it } from 'vitest';
import { Panel } from '../../src/ui/Panel.js';
import { renderTui } from './render-tui.js';

function Toggling() {
  const [focused, setFocused] = useState(true);
  useInput(() => setFocused((f) => !f));
  return (
    <Panel title="Queue" width={30} height={4} focused={focused}>
      <Text>first row</Text>
    </Panel>
  );
}

describe('Panel', () => {
  it('keeps its content right under the title when focus comes and goes', async () => {
    const t = renderTui(<Toggling />, 40, 10);
    const rows = () => t.lastFrame().split('\n');
    expect(rows()[0]).toMatch(/^┏━ Queue ━+┓$/);
    expect(rows()[1]).toMatch(/^┃first row +┃$/);
    await t.press('x');
    expect(rows()[0]).toMatch(/^╭─ Queue ─+╮$/);
    expect(rows()[1]).toMatch(/^│first row +│$/);
    await t.press('x');
    expect(rows()[1]).toMatch(/^┃first row +┃$/);
    expect(rows()).toHaveLength(4);
    await t.unmount();
  });
});

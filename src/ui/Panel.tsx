/**
 * A bordered panel with its title in the top border. The focused panel has a
 * heavy border (┏━┓), so focus shows without colour (NO_COLOR).
 */
import { Box } from 'ink';
import type { ReactNode } from 'react';
import { textWidth, truncate } from './format.js';
import { Row } from './Row.js';

/**
 * Props of `Panel`; the content area is (width − 2) × (height − 2). Children
 * must fit it: the box does not clip (ink's clipping slices every line of
 * every frame, a third of the TUI's CPU in bench/tui.ts).
 */
export interface PanelProps {
  readonly title: string;
  readonly width: number;
  readonly height: number;
  readonly focused?: boolean;
  readonly children?: ReactNode;
}

/** The top border line around the title, as [before, title, after]: exactly `width` cells. */
export function titleLine(
  title: string,
  width: number,
  focused: boolean,
): [string, string, string] {
  const [l, h, r] = focused ? ['┏', '━', '┓'] : ['╭', '─', '╮'];
  if (width < 2) return ['', '', ''];
  const t = truncate(title, Math.max(0, width - 6));
  if (t === '') return [l + h.repeat(width - 2) + r, '', ''];
  return [`${l}${h} `, t, ` ${h.repeat(Math.max(0, width - 5 - textWidth(t)))}${r}`];
}

/** A titled, bordered box of exactly `width`×`height` cells. */
export function Panel({ title, width, height, focused = false, children }: PanelProps) {
  if (width < 4 || height < 2)
    return <Box width={Math.max(0, width)} height={Math.max(0, height)} />;
  // Unfocused borders in the default colour: no escape codes for ink to parse on every frame.
  const color = focused ? 'cyan' : undefined;
  const [before, name, after] = titleLine(title, width, focused);
  return (
    <Box flexDirection="column" width={width} height={height} flexShrink={0}>
      <Row
        segs={[
          { text: before, color },
          { text: name, bold: true, color },
          { text: after, color },
        ]}
        width={width}
      />
      {/* Remounted when focus changes: ink 6.8 re-applies a changed
          borderStyle to every edge and forgets borderTop={false}, which
          leaves a blank top row inside the panel (seen in tmux after Tab). */}
      <Box
        key={focused ? 'focused' : 'plain'}
        borderStyle={focused ? 'bold' : 'round'}
        borderTop={false}
        borderColor={color}
        flexDirection="column"
        width={width}
        height={height - 1}
      >
        {children}
      </Box>
    </Box>
  );
}

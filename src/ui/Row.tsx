/**
 * One line of styled segments (see format.ts `Seg`), cut to `width` cells.
 * Padded to exactly `width` only on request (dialogs, to cover what is under
 * them): every cell ink draws costs CPU on every frame. The UI's glyphs go to
 * ink as ASCII stand-ins and come back in a transform (see stand-ins.ts), so
 * ink measures the line on its fast path.
 */
import { Text, Transform, useIsScreenReaderEnabled } from 'ink';
import Spinner from 'ink-spinner';
import { fitSegs, type Seg } from './format.js';
import { restoreGlyphs, toStandIns } from './stand-ins.js';

/** Props of `Row`. */
export interface RowProps {
  readonly segs: readonly Seg[];
  readonly width: number;
  /** Pad with spaces to the full width. */
  readonly pad?: boolean;
}

function segTexts(segs: readonly Seg[]) {
  return segs.map((s, i) =>
    s.spinner ? (
      // biome-ignore lint/suspicious/noArrayIndexKey: segments have no identity but their place.
      <Text key={i} color={s.color}>
        <Spinner type="dots" />
      </Text>
    ) : (
      <Text
        // biome-ignore lint/suspicious/noArrayIndexKey: segments have no identity but their place.
        key={i}
        color={s.color}
        bold={s.bold}
        dimColor={s.dim}
        inverse={s.inverse}
      >
        {s.text}
      </Text>
    ),
  );
}

/** A single styled line of at most `width` cells. */
export function Row({ segs, width, pad = false }: RowProps) {
  const screenReader = useIsScreenReaderEnabled();
  if (width <= 0) return null;
  const fitted = fitSegs(segs, width, pad);
  const standIns = screenReader ? null : toStandIns(fitted);
  if (!standIns) return <Text wrap="truncate">{segTexts(fitted)}</Text>;
  // The stand-in line is exactly as wide as the real one and fits: ink neither wraps nor cuts it.
  return (
    <Transform transform={(line) => restoreGlyphs(line, standIns)}>
      {segTexts(standIns.segs)}
    </Transform>
  );
}

/**
 * One line of styled segments (see format.ts `Seg`), cut to `width` cells.
 * Padded to exactly `width` only on request (dialogs, to cover what is under
 * them): every cell ink draws costs CPU on every frame.
 */
import { Text } from 'ink';
import Spinner from 'ink-spinner';
import { fitSegs, type Seg } from './format.js';

/** Props of `Row`. */
export interface RowProps {
  readonly segs: readonly Seg[];
  readonly width: number;
  /** Pad with spaces to the full width. */
  readonly pad?: boolean;
}

/** A single styled line of at most `width` cells. */
export function Row({ segs, width, pad = false }: RowProps) {
  if (width <= 0) return null;
  const fitted = fitSegs(segs, width, pad);
  return (
    <Text wrap="truncate">
      {fitted.map((s, i) =>
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
      )}
    </Text>
  );
}

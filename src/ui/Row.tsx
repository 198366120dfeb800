/**
 * One line of styled segments (see format.ts `Seg`), cut or padded to
 * exactly `width` cells so that it overwrites whatever was under it.
 */
import { Text } from 'ink';
import Spinner from 'ink-spinner';
import { fitSegs, type Seg } from './format.js';

/** Props of `Row`. */
export interface RowProps {
  readonly segs: readonly Seg[];
  readonly width: number;
}

/** A single styled line of exactly `width` cells. */
export function Row({ segs, width }: RowProps) {
  if (width <= 0) return null;
  const fitted = fitSegs(segs, width);
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

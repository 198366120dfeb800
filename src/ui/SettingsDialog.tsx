/** The Settings dialog: every editable setting; Enter edits one, errors show inline. */
import type { SettingView } from '../app/controller.js';
import { DialogFrame, dialogInnerWidth } from './DialogFrame.js';
import type { DetailLine } from './detail-lines.js';
import { fitWidth } from './format.js';
import { windowStart } from './selectors.js';
import { errorLines, fieldSegs } from './text-field.js';
import type { SettingsDialogState } from './ui-state.js';

/** Props of `SettingsDialog`. */
export interface SettingsDialogProps {
  readonly dialog: SettingsDialogState;
  readonly settings: readonly SettingView[];
  readonly screenWidth: number;
  readonly screenHeight: number;
}

/** The lines of the Settings dialog for an inner width `w` and at most `rows` settings shown. */
export function settingsLines(
  d: SettingsDialogState,
  settings: readonly SettingView[],
  w: number,
  rows: number,
): DetailLine[] {
  const keyW = Math.min(24, Math.max(4, ...settings.map((s) => s.key.length)));
  // Values as wide as the widest, up to half of what the key leaves (the help gets the rest).
  const valueW = Math.min(
    Math.max(4, ...settings.map((s) => s.value.length)),
    Math.max(4, Math.floor((w - keyW - 4) / 2)),
  );
  const at = Math.min(d.index, settings.length - 1);
  const start = windowStart(at, settings.length, rows);
  const lines: DetailLine[] = settings.slice(start, start + rows).map((s, i) => {
    const sel = start + i === at;
    return {
      key: s.key,
      segs: [
        { text: sel ? '› ' : '  ', bold: true, color: 'cyan' },
        { text: `${fitWidth(s.key, keyW)} `, bold: sel },
        { text: `${fitWidth(s.value, valueW)} `, color: 'yellow' },
        { text: s.help, dim: true },
      ],
    };
  });
  if (settings.length === 0)
    lines.push({ key: 'none', segs: [{ text: 'No settings.', dim: true }] });
  if (d.editing) {
    lines.push({ key: 'edit', segs: fieldSegs(`${d.editing.key} =`, d.editing.value, w, true) });
  }
  if (d.pending !== null) lines.push({ key: 'busy', segs: [{ text: 'Saving…', color: 'yellow' }] });
  lines.push(...errorLines(d.error, w));
  const keys = d.editing ? 'Enter save · Esc cancel' : '↑↓ select · Enter edit · Esc close';
  lines.push({ key: 'keys', segs: [{ text: keys, color: 'cyan' }] });
  return lines;
}

/** The Settings dialog. */
export function SettingsDialog({
  dialog,
  settings,
  screenWidth,
  screenHeight,
}: SettingsDialogProps) {
  return (
    <DialogFrame
      title="Settings"
      lines={settingsLines(
        dialog,
        settings,
        dialogInnerWidth(screenWidth),
        Math.max(1, screenHeight - 8),
      )}
      screenWidth={screenWidth}
      screenHeight={screenHeight}
    />
  );
}

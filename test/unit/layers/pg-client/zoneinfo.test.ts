/** The layer's programs read the bundle's own time zone data (layers/pg-client/zoneinfo.ts). */
import { describe, expect, it } from '@jest/globals';
import {
  layerTimeZoneDir,
  systemTimeZoneDir,
  withLayerTimeZoneDir,
} from '../../../../layers/pg-client/zoneinfo.ts';

const program = (...strings: string[]) => Buffer.from(`\x7fELF\0${strings.join('\0')}\0tail`, 'latin1');

describe('withLayerTimeZoneDir', () => {
  it('names the layer directory where the program named the system one, nothing else moving', () => {
    const configure = "'--with-system-tzdata=/usr/share/zoneinfo' 'AWK=mawk'";
    const before = program('pg_tzset', systemTimeZoneDir, configure, systemTimeZoneDir);
    const after = withLayerTimeZoneDir(before, 'postgres');
    expect(after.length).toBe(before.length);
    const text = after.toString('latin1');
    expect(text.split('\0')).toEqual([
      '\x7fELF',
      'pg_tzset',
      layerTimeZoneDir,
      '',
      '',
      configure,
      layerTimeZoneDir,
      '',
      '',
      'tail',
    ]);
    // The build's recorded configure line stays as it was; the input is not changed.
    expect(text).toContain(configure);
    expect(before.toString('latin1')).toContain(`\0${systemTimeZoneDir}\0`);
    expect(layerTimeZoneDir.length).toBeLessThan(systemTimeZoneDir.length);
  });

  it('refuses a program that does not read the system directory', () => {
    expect(() => withLayerTimeZoneDir(program('/usr/share/zoneinfo-other', 'x'), 'initdb')).toThrow(
      /initdb does not name \/usr\/share\/zoneinfo/,
    );
  });
});

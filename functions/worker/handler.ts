import { workerEntry } from '../../lib/worker/main.ts';
import { handler as drillRestore } from '../drill-restore/handler.ts';
import { handler as dump } from '../dump/handler.ts';
import { handler as renderDrill } from '../render-drill/handler.ts';
import { handler as restore } from '../restore/handler.ts';
import { handler as verify } from '../verify/handler.ts';

export const handler = workerEntry(import.meta.url, { dump, verify, drillRestore, restore, renderDrill });

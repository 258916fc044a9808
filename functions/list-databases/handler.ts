import { stepHandler } from '../../lib/lambda/handler.ts';
import { listDatabasesStep } from '../../lib/steps/list-databases.ts';

export const handler = stepHandler('listDatabases', listDatabasesStep);

import { stepHandler } from '../../lib/lambda/handler.ts';
import { listVaultsStep } from '../../lib/steps/list-vaults.ts';

export const handler = stepHandler('listVaults', listVaultsStep);

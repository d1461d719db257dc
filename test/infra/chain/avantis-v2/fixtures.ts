/** Shared values of the reference's test vectors (AVANTIS-V2.md §8.7). */
import type { Address } from 'viem';
import type { IntentDomain } from '../../../../src/infra/chain/avantis-v2/intents.ts';

export const TEST_DOMAIN: IntentDomain = { name: 'AvantisTrading', version: '1', chainId: 31337, verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' };
export const TRADER: Address = '0x1111111111111111111111111111111111111111';
export const DELEGATE: Address = '0x2222222222222222222222222222222222222222';
export const DEADLINE = 1800000000123n;
export const NONCE = 987654321123456789n;

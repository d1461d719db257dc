/**
 * The pairs the devnet lists, with their real Avantis indexes, groups, leverage bounds, spreads,
 * fees and Pyth feed ids (AVANTIS.md §7.1, from the SDK-v2 pair snapshot). Indexes missing here
 * (16, 18, 19) are listed as delisted placeholders so every seeded pair keeps its real index.
 *
 * `startPrice` is not protocol data: it is the devnet's opening price for the simulated market,
 * a round figure of the right magnitude.
 */
export interface PairSeed {
  readonly index: number;
  readonly from: string;
  readonly to: string;
  readonly groupIndex: number;
  readonly minLeverage: number;
  readonly maxLeverage: number;
  /** Percent, as written in AVANTIS.md (0.01 = 0.01 %). */
  readonly spreadP: string;
  readonly fee: FeeSeed;
  readonly pythFeedId: `0x${string}`;
  /** Percent deviation allowed against the Chainlink backup; null = no backup check on mainnet. */
  readonly backupMaxDeviationP: string | null;
  readonly startPrice: string;
}

export interface FeeSeed {
  readonly openFeeP: string;
  readonly closeFeeP: string;
}

export interface GroupSeed {
  readonly name: string;
  readonly maxOpenInterestP: string;
  readonly isSpreadDynamic: boolean;
}

/** Group index = position (AVANTIS.md §7.1, "Groups"). */
export const GROUPS: readonly GroupSeed[] = [
  { name: 'CRYPTO1', maxOpenInterestP: '26', isSpreadDynamic: true },
  { name: 'CRYPTO2', maxOpenInterestP: '13', isSpreadDynamic: true },
  { name: 'FOREX', maxOpenInterestP: '9', isSpreadDynamic: false },
  { name: 'COMMODITIES', maxOpenInterestP: '8', isSpreadDynamic: false },
  { name: 'CRYPTO3', maxOpenInterestP: '4', isSpreadDynamic: true },
  { name: 'CRYPTO4', maxOpenInterestP: '7', isSpreadDynamic: true },
  { name: 'EQUITIES', maxOpenInterestP: '33', isSpreadDynamic: false },
];

/** Values every ETH/USD-like pair shares in the snapshot (AVANTIS.md §7.1, "Other ETH/USD values"). */
export const COMMON_PAIR_VALUES = {
  maxGainP: '2500',
  maxSlP: '80',
  minLevPosUSDC: '100',
  limitOrderFeeP: '0.01',
  pnlMinLeverage: '75',
  pnlMaxLeverage: '500',
  maxOpenDeviationP: '1',
  maxCloseDeviationP: '50',
} as const;

const CRYPTO_FEE: FeeSeed = { openFeeP: '0.045', closeFeeP: '0.045' };
const FOREX_FEE: FeeSeed = { openFeeP: '0.03', closeFeeP: '0' };

export const PAIRS: readonly PairSeed[] = [
  { index: 0, from: 'ETH', to: 'USD', groupIndex: 0, minLeverage: 1, maxLeverage: 75, spreadP: '0.01', fee: CRYPTO_FEE, pythFeedId: '0xff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace', backupMaxDeviationP: '5', startPrice: '3000' },
  { index: 1, from: 'BTC', to: 'USD', groupIndex: 0, minLeverage: 1, maxLeverage: 75, spreadP: '0', fee: CRYPTO_FEE, pythFeedId: '0xe62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43', backupMaxDeviationP: '5', startPrice: '60000' },
  { index: 2, from: 'SOL', to: 'USD', groupIndex: 1, minLeverage: 1, maxLeverage: 75, spreadP: '0.02', fee: CRYPTO_FEE, pythFeedId: '0xef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d', backupMaxDeviationP: '5', startPrice: '150' },
  { index: 3, from: 'BNB', to: 'USD', groupIndex: 1, minLeverage: 1, maxLeverage: 40, spreadP: '0.05', fee: CRYPTO_FEE, pythFeedId: '0x2f95862b045670cd22bee3114c39763a4a08beeb663b145d283c31d7d1101c4f', backupMaxDeviationP: null, startPrice: '600' },
  { index: 4, from: 'ARB', to: 'USD', groupIndex: 1, minLeverage: 1, maxLeverage: 20, spreadP: '0.25', fee: CRYPTO_FEE, pythFeedId: '0x3fa4252848f9f0a1480be62745a4629d9eb1322aebab8a791e344b3b9c1adcf5', backupMaxDeviationP: null, startPrice: '0.8' },
  { index: 5, from: 'DOGE', to: 'USD', groupIndex: 1, minLeverage: 1, maxLeverage: 20, spreadP: '0.05', fee: CRYPTO_FEE, pythFeedId: '0xdcef50dd0a4cd2dcc17e45df1676dcb336a11a61c69df7a0299b0150c672d25c', backupMaxDeviationP: null, startPrice: '0.15' },
  { index: 6, from: 'AVAX', to: 'USD', groupIndex: 1, minLeverage: 1, maxLeverage: 20, spreadP: '0.25', fee: CRYPTO_FEE, pythFeedId: '0x93da3352f9f1d105fdfe4971cfa80e9dd777bfc5d0f683ebb6e1294b92137bb7', backupMaxDeviationP: null, startPrice: '30' },
  { index: 7, from: 'OP', to: 'USD', groupIndex: 1, minLeverage: 1, maxLeverage: 5, spreadP: '1', fee: CRYPTO_FEE, pythFeedId: '0x385f64d993f7b77d8182ed5003d97c60aa3361f3cecfe711544d2d59165e9bdf', backupMaxDeviationP: '1.5', startPrice: '2' },
  { index: 8, from: 'POL', to: 'USD', groupIndex: 1, minLeverage: 1, maxLeverage: 20, spreadP: '0.2', fee: CRYPTO_FEE, pythFeedId: '0xffd11c5a1cfd42f80afb2df4d9f264c15f956d68153335374ec10722edd70472', backupMaxDeviationP: null, startPrice: '0.5' },
  { index: 9, from: 'TIA', to: 'USD', groupIndex: 1, minLeverage: 1, maxLeverage: 20, spreadP: '0.2', fee: CRYPTO_FEE, pythFeedId: '0x09f7c1d7dfbb7df2b8fe3d3d87ee94a2259d212da4f30c1f0540d066dfa44723', backupMaxDeviationP: null, startPrice: '5' },
  { index: 10, from: 'SEI', to: 'USD', groupIndex: 1, minLeverage: 1, maxLeverage: 20, spreadP: '0.2', fee: CRYPTO_FEE, pythFeedId: '0x53614f1cb0c031d4af66c04cb9c756234adad0e1cee85303795091499a4084eb', backupMaxDeviationP: null, startPrice: '0.4' },
  { index: 11, from: 'EUR', to: 'USD', groupIndex: 2, minLeverage: 1, maxLeverage: 100, spreadP: '0', fee: FOREX_FEE, pythFeedId: '0xa995d00bb36a63cef7fd2c287dc105fc8f3d93779f062f09551b0af3e81ec30b', backupMaxDeviationP: null, startPrice: '1.08' },
  { index: 12, from: 'USD', to: 'JPY', groupIndex: 2, minLeverage: 1, maxLeverage: 100, spreadP: '0', fee: FOREX_FEE, pythFeedId: '0xef2c98c804ba503c6a707e38be4dfbb16683775f195b091252bf24693042fd52', backupMaxDeviationP: null, startPrice: '150' },
  { index: 13, from: 'GBP', to: 'USD', groupIndex: 2, minLeverage: 1, maxLeverage: 100, spreadP: '0', fee: FOREX_FEE, pythFeedId: '0x84c2dde9633d93d1bcad84e7dc41c9d56578b7ec52fabedc1f335d673df0a7c1', backupMaxDeviationP: null, startPrice: '1.27' },
  { index: 14, from: 'USD', to: 'CAD', groupIndex: 2, minLeverage: 1, maxLeverage: 50, spreadP: '0.01', fee: FOREX_FEE, pythFeedId: '0x3112b03a41c910ed446852aacf67118cb1bec67b2cd0b9a214c58cc0eaa2ecca', backupMaxDeviationP: null, startPrice: '1.36' },
  { index: 15, from: 'USD', to: 'CHF', groupIndex: 2, minLeverage: 1, maxLeverage: 50, spreadP: '0.01', fee: FOREX_FEE, pythFeedId: '0x0b1e3297e69f162877b577b0d6a47a0d63b2392bc8499e6540da4187a63e28f8', backupMaxDeviationP: null, startPrice: '0.88' },
  { index: 17, from: 'AUD', to: 'USD', groupIndex: 2, minLeverage: 1, maxLeverage: 50, spreadP: '0.01', fee: { openFeeP: '0.09', closeFeeP: '0' }, pythFeedId: '0x67a6f93030420c1c9e3fe37c1ab6b77966af82f995944a9fefce357a22854a80', backupMaxDeviationP: null, startPrice: '0.66' },
  { index: 20, from: 'XAG', to: 'USD', groupIndex: 3, minLeverage: 1, maxLeverage: 75, spreadP: '0.1', fee: { openFeeP: '0.08', closeFeeP: '0' }, pythFeedId: '0xf2fb02c32b055c805e7238d628e5e9dadef274376114eb1f012337cabe93871e', backupMaxDeviationP: null, startPrice: '30' },
  { index: 21, from: 'XAU', to: 'USD', groupIndex: 3, minLeverage: 1, maxLeverage: 75, spreadP: '0', fee: { openFeeP: '0.08', closeFeeP: '0' }, pythFeedId: '0x765d2ba906dbc32ca17cc11f5310a89e9ee1f6420508c63861f2f8ba4ee34bb2', backupMaxDeviationP: null, startPrice: '2400' },
];

/** `ETH/USD` → its seed, for callers that think in names. */
export function pairByName(name: string): PairSeed | undefined {
  return PAIRS.find((p) => `${p.from}/${p.to}` === name);
}
